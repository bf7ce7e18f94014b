// sfc-bench: the compiled half of the benchmark (bench/run.sh drives it).
//
//   sfc-bench micro --chain bench/chains/sfc.json [--net N] [--quick] [--cpu C] [-o FILE]
//   sfc-bench flood --client-ns NS [--client-dev eth0] --sink NS:DEV [--sink ...]
//                   --src-mac M --dst-mac M --src-ip A --dst-ip B [--port 9]
//                   [--size 64] [--flows 256] [--cpus 0,1] [--seconds 3] [--warmup 0.5]
//                   [--mix-src-file FILE] [-o FILE]
//   sfc-bench blocklist --count N --net N [--hits K] [-o FILE]
//   sfc-bench attach --prog pass|redirect --dev DEV [--dev DEV ...]
//                    [--out DEV --dst-mac M --src-mac M]
//
// micro, flood and blocklist print one JSON document (to FILE or stdout);
// progress goes to stderr. attach attaches the benchmark's own XDP program to
// devices of the current network namespace, prints one JSON line when done,
// and holds the attachment (a bpf_link) until SIGTERM, SIGINT or SIGHUP.
// Exit 0 on success, 1 when the run failed, 2 on a usage error.
#include <net/if.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench_prog.h"
#include "blocklist.h"
#include "flood.h"
#include "micro.h"

namespace {

constexpr const char* kUsage = R"(usage:
  sfc-bench micro --chain FILE [--net N] [--quick] [--cpu C] [--only GROUP] [-o FILE]
  sfc-bench flood --client-ns NS [--client-dev DEV] --sink NS:DEV [--sink NS:DEV ...]
                  --src-mac MAC --dst-mac MAC --src-ip IP --dst-ip IP [--port N]
                  [--size BYTES] [--flows N] [--cpus LIST] [--seconds S] [--warmup S]
                  [--mix-src-file FILE] [-o FILE]
  sfc-bench blocklist --count N --net N [--hits K] [-o FILE]
  sfc-bench attach --prog pass|redirect --dev DEV [--dev DEV ...] [--out DEV --dst-mac MAC --src-mac MAC]
)";

// --flag VALUE pairs (repeatable ones keep every value) and bare --switches.
struct Args {
  std::multimap<std::string, std::string> values;
  std::vector<std::string> switches;
  std::string error;

  static Args Parse(int argc, char** argv, const std::vector<std::string>& switch_names) {
    Args a;
    for (int i = 2; i < argc; ++i) {
      std::string k = argv[i];
      if (std::find(switch_names.begin(), switch_names.end(), k) != switch_names.end()) {
        a.switches.push_back(k);
      } else if (k.rfind("-", 0) == 0 && i + 1 < argc) {
        a.values.emplace(k, argv[++i]);
      } else {
        a.error = "unexpected argument " + k;
      }
    }
    return a;
  }
  bool Has(const std::string& k) const {
    return std::find(switches.begin(), switches.end(), k) != switches.end();
  }
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  std::vector<std::string> All(const std::string& k) const {
    std::vector<std::string> out;
    for (auto [it, end] = values.equal_range(k); it != end; ++it) out.push_back(it->second);
    return out;
  }
};

int Emit(const sfc::Result<nlohmann::json>& r, const std::string& out) {
  if (!r.ok()) {
    std::cerr << "sfc-bench: " << r.status().ToString() << "\n";
    return 1;
  }
  std::string text = r->dump(2) + "\n";
  if (out.empty()) {
    std::cout << text;
    return 0;
  }
  std::ofstream f(out);
  f << text;
  if (!f) {
    std::cerr << "sfc-bench: cannot write " << out << "\n";
    return 1;
  }
  return 0;
}

int Usage(const std::string& why) {
  if (!why.empty()) std::cerr << "sfc-bench: " << why << "\n";
  std::cerr << kUsage;
  return 2;
}

// Lines of a file, blank ones skipped.
sfc::Result<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return sfc::NotFound("cannot read " + path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

sfc::Result<nlohmann::json> MakeBlocklist(size_t count, int net, size_t hits) {
  SFC_ASSIGN_OR_RETURN(auto bl, sfc::bench::Blocklist::Make(count, net));
  nlohmann::json prefixes = nlohmann::json::array(), sources = nlohmann::json::array();
  std::map<std::string, size_t> lengths;
  for (const auto& p : bl.prefixes()) {
    prefixes.push_back(sfc::bench::PrefixString(p));
    ++lengths["/" + std::to_string(p.len)];
  }
  for (uint32_t a : bl.HitSources(hits)) sources.push_back(sfc::bench::Ipv4String(a));
  return nlohmann::json{{"count", count},
                        {"net", net},
                        {"lengths", lengths},
                        {"prefixes", prefixes},
                        {"hits", sources}};
}

// Attaches, reports, then holds the links until asked to stop.
int Attach(const std::string& prog, const std::vector<std::string>& devs, const std::string& out,
           const std::string& dst_mac, const std::string& src_mac) {
  // Blocked before anything can fail, so a stop request that arrives
  // while attaching is not lost (and does not kill us with links half made).
  sigset_t stop;
  sigemptyset(&stop);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stop, s);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  sfc::bench::BenchProgOptions opts;
  if (prog == "redirect") {
    if (out.empty() || dst_mac.empty() || src_mac.empty())
      return Usage("--prog redirect needs --out, --dst-mac and --src-mac");
    opts.redirect_dst_mac = dst_mac;
    opts.redirect_src_mac = src_mac;
  } else if (prog != "pass") {
    return Usage("--prog must be pass or redirect");
  }
  auto skel = sfc::bench::LoadBenchProgs(opts);
  if (!skel.ok()) return std::cerr << "sfc-bench: " << skel.status().ToString() << "\n", 1;
  int fd =
      bpf_program__fd(prog == "pass" ? (*skel)->progs.bench_pass : (*skel)->progs.bench_redirect);
  if (prog == "redirect") {
    unsigned ifindex = if_nametoindex(out.c_str());
    if (ifindex == 0) return std::cerr << "sfc-bench: no device " << out << "\n", 1;
    if (auto st = sfc::bench::SetRedirectPort(**skel, ifindex); !st.ok())
      return std::cerr << "sfc-bench: " << st.ToString() << "\n", 1;
  }
  std::vector<sfc::bench::XdpLink> links;
  for (const auto& dev : devs) {
    auto link = sfc::bench::XdpLink::Attach(fd, dev);
    if (!link.ok()) return std::cerr << "sfc-bench: " << link.status().ToString() << "\n", 1;
    links.push_back(std::move(*link));
  }
  std::cout << nlohmann::json{{"attached", devs}, {"prog", prog}, {"out", out}}.dump() << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage("");
  std::string cmd = argv[1];
  // libbpf's own warnings (e.g. probing) would drown the progress lines.
  libbpf_set_print([](libbpf_print_level level, const char* fmt, va_list ap) {
    return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
  });

  if (cmd == "micro") {
    Args a = Args::Parse(argc, argv, {"--quick"});
    if (!a.error.empty()) return Usage(a.error);
    sfc::bench::MicroOptions o;
    o.chain_file = a.Get("--chain");
    if (o.chain_file.empty()) return Usage("--chain is required");
    try {
      o.net = std::stoi(a.Get("--net", "200"));
    } catch (const std::exception&) {
      return Usage("--net must be a number");
    }
    o.quick = a.Has("--quick");
    try {
      o.cpu = std::stoi(a.Get("--cpu", "0"));
    } catch (const std::exception&) {
      return Usage("--cpu must be a number");
    }
    o.only = a.Get("--only");
    return Emit(sfc::bench::RunMicro(o), a.Get("-o"));
  }

  if (cmd == "flood") {
    Args a = Args::Parse(argc, argv, {});
    if (!a.error.empty()) return Usage(a.error);
    sfc::bench::FloodOptions o;
    o.client_ns = a.Get("--client-ns");
    o.client_dev = a.Get("--client-dev", "eth0");
    for (const auto& s : a.All("--sink")) {
      size_t colon = s.find(':');
      if (colon == std::string::npos) return Usage("--sink wants NS:DEV, got " + s);
      o.sinks.emplace_back(s.substr(0, colon), s.substr(colon + 1));
    }
    o.src_mac = a.Get("--src-mac");
    o.dst_mac = a.Get("--dst-mac");
    o.src_ip = a.Get("--src-ip");
    o.dst_ip = a.Get("--dst-ip");
    if (o.client_ns.empty() || o.src_mac.empty() || o.dst_mac.empty() || o.src_ip.empty() ||
        o.dst_ip.empty())
      return Usage("--client-ns, --src-mac, --dst-mac, --src-ip and --dst-ip are required");
    try {
      o.dst_port = static_cast<uint16_t>(std::stoul(a.Get("--port", "9")));
      o.frame_size = std::stoul(a.Get("--size", "64"));
      o.flows = std::stoul(a.Get("--flows", "256"));
      o.seconds = std::stod(a.Get("--seconds", "3"));
      o.warmup_s = std::stod(a.Get("--warmup", "0.5"));
    } catch (const std::exception&) {
      return Usage("numeric option expected");
    }
    auto cpus = sfc::bench::ParseCpuList(a.Get("--cpus", "0"));
    if (!cpus.ok()) return Usage(cpus.status().message());
    o.cpus = *cpus;
    if (std::string mix = a.Get("--mix-src-file"); !mix.empty()) {
      auto lines = ReadLines(mix);
      if (!lines.ok()) return Usage(lines.status().message());
      o.mix_src = *lines;
    }
    return Emit(sfc::bench::RunFlood(o), a.Get("-o"));
  }

  if (cmd == "blocklist") {
    Args a = Args::Parse(argc, argv, {});
    if (!a.error.empty()) return Usage(a.error);
    size_t count = 0, hits = 0;
    int net = 0;
    try {
      count = std::stoul(a.Get("--count", ""));
      net = std::stoi(a.Get("--net", ""));
      hits = std::stoul(a.Get("--hits", "0"));
    } catch (const std::exception&) {
      return Usage("--count and --net are required numbers");
    }
    return Emit(MakeBlocklist(count, net, hits), a.Get("-o"));
  }

  if (cmd == "attach") {
    Args a = Args::Parse(argc, argv, {});
    if (!a.error.empty()) return Usage(a.error);
    auto devs = a.All("--dev");
    if (devs.empty()) return Usage("at least one --dev is needed");
    return Attach(a.Get("--prog"), devs, a.Get("--out"), a.Get("--dst-mac"), a.Get("--src-mac"));
  }

  return Usage("unknown command " + cmd);
}
