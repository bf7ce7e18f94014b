// sfcd: the sfc daemon. Owns every change to the XDP data plane and serves
// the sfc.v1 gRPC API. The data plane outlives it: on SIGTERM it stops
// serving and leaves chains running (unless --detach-on-exit).
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "api/server.h"
#include "common/failpoint.h"
#include "common/log.h"
#include "common/version.h"
#include "engine/chain_engine.h"
#include "metrics/metrics_server.h"
#include "vnfs.h"

namespace {

constexpr const char* kUsage = R"(usage: sfcd [options]

Runs the sfc daemon: builds XDP service function chains and serves the
sfc.v1 gRPC API (ChainService, StatsService and the VNF services).

options:
  --bpffs-root DIR       where chains are pinned (default /sys/fs/bpf/sfc)
  --state-dir DIR        where applied specs are saved (default /var/lib/sfcd)
  --listen ADDR          unix:PATH or HOST:PORT; repeatable
                         (default unix:/run/sfcd/sfcd.sock)
  --tls-cert FILE        server certificate (PEM), required for HOST:PORT
  --tls-key FILE         server key (PEM), required for HOST:PORT
  --tls-client-ca FILE   require client certificates signed by this CA
  --metrics-listen ADDR:PORT
                         serve Prometheus metrics on http://ADDR:PORT/metrics
                         (off by default; no TLS or auth: bind it to a trusted
                         address)
  --detach-on-exit       detach every chain from its interfaces on SIGTERM
  --allow-private-bpffs  accept a bpffs the host does not see (by default sfcd
                         refuses one, e.g. when started with `ip netns exec`:
                         use `nsenter --net=/run/netns/NS sfcd` instead)
  --log-level LEVEL      debug, info (default), warn, error
  -V, --version          print the version, the commit and the libraries, and exit
  -h, --help             this text
)";

}  // namespace

int main(int argc, char** argv) {
  sfc::ChainEngine::Options engine_opts;
  sfc::api::ServerOptions server_opts;
  bool detach_on_exit = false;
  bool listen_given = false;
  std::string metrics_listen;

  enum { kRoot = 1, kState, kListen, kCert, kKey, kCa, kDetach, kLevel, kPrivateBpffs, kMetrics };
  static const option longopts[] = {{"bpffs-root", required_argument, nullptr, kRoot},
                                    {"state-dir", required_argument, nullptr, kState},
                                    {"listen", required_argument, nullptr, kListen},
                                    {"tls-cert", required_argument, nullptr, kCert},
                                    {"tls-key", required_argument, nullptr, kKey},
                                    {"tls-client-ca", required_argument, nullptr, kCa},
                                    {"detach-on-exit", no_argument, nullptr, kDetach},
                                    {"metrics-listen", required_argument, nullptr, kMetrics},
                                    {"allow-private-bpffs", no_argument, nullptr, kPrivateBpffs},
                                    {"log-level", required_argument, nullptr, kLevel},
                                    {"version", no_argument, nullptr, 'V'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "hV", longopts, nullptr)) != -1) {
    switch (opt) {
      case kRoot:
        engine_opts.bpffs_root = optarg;
        break;
      case kState:
        engine_opts.state_dir = optarg;
        break;
      case kListen:
        if (!listen_given) server_opts.listen.clear();
        listen_given = true;
        server_opts.listen.push_back(optarg);
        break;
      case kCert:
        server_opts.tls_cert = optarg;
        break;
      case kKey:
        server_opts.tls_key = optarg;
        break;
      case kCa:
        server_opts.tls_client_ca = optarg;
        break;
      case kDetach:
        detach_on_exit = true;
        break;
      case kMetrics:
        metrics_listen = optarg;
        break;
      case kPrivateBpffs:
        engine_opts.allow_private_bpffs = true;
        break;
      case kLevel: {
        sfc::log::Level level;
        if (!sfc::log::ParseLevel(optarg, &level)) {
          std::fprintf(stderr, "sfcd: --log-level: \"%s\" is not one of debug, info, warn, error\n",
                       optarg);
          return 2;
        }
        sfc::log::SetLevel(level);
        break;
      }
      case 'V':
        std::puts(sfc::VersionLine("sfcd", sfc::BuildVersion()).c_str());
        return 0;
      case 'h':
        std::fputs(kUsage, stdout);
        return 0;
      default:
        std::fputs(kUsage, stderr);
        return 2;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "sfcd: unexpected argument \"%s\"\n%s", argv[optind], kUsage);
    return 2;
  }

  // Signals are taken synchronously by the main thread; block them before
  // gRPC starts its threads so they inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Saved specs, pins and the directories holding them are root's alone,
  // whatever umask sfcd was started with; the API socket is opened to its
  // group explicitly (api/server.cc).
  ::umask(077);
  sfc::log::CaptureLibraryLogs();
  // Test hook (see common/failpoint.h); unset in production.
  if (sfc::Status st = sfc::failpoint::ArmFromEnvironment(); !st.ok()) {
    sfc::log::Error("sfcd.start_failed", {{"error", st.message()}});
    return 2;
  }
  sfc::VnfRegistry registry;
  sfc::RegisterBuiltinVnfs(registry);
  sfc::ChainEngine engine(engine_opts, registry);
  if (sfc::Status st = engine.Start(); !st.ok()) {
    sfc::log::Error("sfcd.start_failed", {{"error", st.message()}});
    return 1;
  }
  sfc::metrics::MetricsServer metrics(engine);
  sfc::api::Server server(engine, registry);
  if (!metrics_listen.empty()) server.AddInterceptors(metrics.ApiInterceptors());
  if (sfc::Status st = server.Start(server_opts); !st.ok()) {
    sfc::log::Error("sfcd.start_failed", {{"error", st.message()}});
    return 1;
  }
  if (!metrics_listen.empty()) {
    if (sfc::Status st = metrics.Start(metrics_listen); !st.ok()) {
      sfc::log::Error("sfcd.start_failed", {{"error", st.message()}});
      server.Shutdown();
      return 1;
    }
  }
  sfc::log::Info("sfcd.ready",
                 {{"bpffs_root", engine_opts.bpffs_root}, {"state_dir", engine_opts.state_dir}});

  int sig = 0;
  sigwait(&signals, &sig);
  sfc::log::Info("sfcd.stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                                   {"data_plane", detach_on_exit ? "detach" : "keep running"}});
  metrics.Stop();
  server.Shutdown();
  if (detach_on_exit) engine.DetachAll();
  engine.Shutdown();
  return 0;
}
