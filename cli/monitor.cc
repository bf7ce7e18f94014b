#include "monitor.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include "sfc/v1/monitor.grpc.pb.h"

namespace sfc::cli {
namespace {

constexpr const char* kUsage =
    R"(usage: sfcctl monitor CHAIN [--vnf NAME] [--drops | --all] [--sample N] [--rate N] [--count N]

Streams the chain's verdicts as the data plane reports them: time, interface,
VNF, verdict, reason (firewall rule id, default, invalid state, no backend,
fragment, fib, TTL, tail-call miss, ...) and the packet's protocol, addresses
and ports. The monitor is on while someone watches, off otherwise.

  --vnf NAME    only this VNF's events ("entry" and "egress": the chain's own stages)
  --drops       drops, aborts and tail-call misses (default)
  --all         every verdict of every stage, "next" (handed on) included
  --sample N    one event in N, counted per CPU (default 1: every event)
  --rate N      at most N events per second per CPU (default 1000)
  --count N     exit after N events

-o json prints one JSON object per line (JSON Lines). Events held back by the
rate limit or sampling, or lost because a reader fell behind, are reported
once a second: a "# lost ..." line on stderr, or {"lost": {...}} with -o json.
)";

bool WantsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "-h" || a == "--help") return true;
  return false;
}

bool ParseCount(const std::string& s, uint32_t* out) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
    return false;
  *out = static_cast<uint32_t>(std::stoul(s));
  return true;
}

std::string Clock(const google::protobuf::Timestamp& t) {
  std::time_t secs = t.seconds();
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof(frac), ".%06d", t.nanos() / 1000);
  return std::string(buf) + frac;
}

std::string Endpoint(const std::string& addr, uint32_t port, const std::string& proto) {
  if (addr.empty()) return "-";
  bool v6 = addr.find(':') != std::string::npos;
  bool ports = proto == "tcp" || proto == "udp";
  if (!ports) return addr;
  return (v6 ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

void PrintLine(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(msg, &out, opts);
  std::cout << out << "\n";
}

void PrintEvent(const v1::PacketEvent& e) {
  std::string reason = e.reason();
  if (!e.rule_id().empty()) reason += "(" + e.rule_id() + ")";
  std::string what = e.proto().empty() ? "-" : e.proto();
  if (e.proto() == "icmp" || e.proto() == "icmpv6")
    what += " type " + std::to_string(e.icmp_type()) + "/" + std::to_string(e.icmp_code());
  std::printf("%s %-10s %-8s %-8s %-24s %s %s > %s len %u\n", Clock(e.time()).c_str(),
              e.interface().empty() ? std::to_string(e.ifindex()).c_str() : e.interface().c_str(),
              e.vnf().c_str(), e.verdict().c_str(), reason.c_str(), what.c_str(),
              Endpoint(e.src(), e.sport(), e.proto()).c_str(),
              Endpoint(e.dst(), e.dport(), e.proto()).c_str(), e.length());
}

}  // namespace

int RunMonitor(Context& ctx, const std::vector<std::string>& args) {
  if (WantsHelp(args)) return std::fputs(kUsage, stdout), kExitOk;
  Args a;
  std::string err;
  if (!Args::Parse(args, {"--vnf", "--sample", "--rate", "--count"}, {"--drops", "--all"}, &a,
                   &err))
    return UsageError(kUsage, err);
  if (a.positional().size() != 1) return UsageError(kUsage, "monitor: expected one chain NAME");
  if (a.Has("--drops") && a.Has("--all"))
    return UsageError(kUsage, "monitor: --drops and --all exclude each other");
  uint32_t sample = 1, rate = 0, count = 0;
  if (a.Has("--sample") && (!ParseCount(a.Get("--sample"), &sample) || sample == 0))
    return UsageError(kUsage, "--sample: expected a count of at least 1");
  if (a.Has("--rate") && (!ParseCount(a.Get("--rate"), &rate) || rate == 0))
    return UsageError(kUsage, "--rate: expected events per second, at least 1");
  if (a.Has("--count") && (!ParseCount(a.Get("--count"), &count) || count == 0))
    return UsageError(kUsage, "--count: expected a count of at least 1");

  const std::string chain = a.positional()[0];
  v1::WatchRequest req;
  req.set_chain(chain);
  req.set_vnf(a.Get("--vnf"));
  req.set_mode(a.Has("--all") ? v1::MONITOR_MODE_ALL : v1::MONITOR_MODE_DROPS);
  req.set_sample(sample);
  req.set_rate_limit(rate);

  auto stub = v1::MonitorService::NewStub(ctx.Channel());
  grpc::ClientContext call;
  auto reader = stub->Watch(&call, req);
  v1::MonitorEvent msg;
  uint32_t seen = 0;
  if (ctx.output == Output::kTable)
    std::printf("%-15s %-10s %-8s %-8s %-24s %s\n", "TIME", "INTERFACE", "VNF", "VERDICT", "REASON",
                "PACKET"),
        std::fflush(stdout);
  while (reader->Read(&msg)) {
    if (msg.has_packet()) {
      if (ctx.output == Output::kJson)
        PrintLine(msg.packet());
      else
        PrintEvent(msg.packet());
      std::cout.flush();
      std::fflush(stdout);
      if (count && ++seen >= count) {
        call.TryCancel();
        break;
      }
    } else if (msg.has_lost()) {
      const auto& l = msg.lost();
      if (ctx.output == Output::kJson) {
        PrintLine(msg);
        std::cout.flush();
      } else {
        std::fprintf(stderr,
                     "# lost since start: %llu rate-limited, %llu sampled out, %llu ring full, "
                     "%llu slow reader\n",
                     static_cast<unsigned long long>(l.rate_limited()),
                     static_cast<unsigned long long>(l.sampled_out()),
                     static_cast<unsigned long long>(l.ring_full()),
                     static_cast<unsigned long long>(l.slow_reader()));
      }
    }
  }
  auto st = reader->Finish();
  if (count && seen >= count) return kExitOk;
  if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED)
    return ReportError("monitor " + chain, st);
  return kExitOk;
}

}  // namespace sfc::cli
