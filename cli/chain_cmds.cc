#include "chain_cmds.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "common/latency_histogram.h"
#include "sfc/v1/chain.grpc.pb.h"
#include "sfc/v1/stats.grpc.pb.h"

namespace sfc::cli {
namespace {

constexpr const char* kApplyUsage =
    R"(usage: sfcctl apply -f FILE [--dry-run] [--expect-generation N]

Creates or updates the chain declared in FILE ("-" for stdin) to match it.
Idempotent; the switch is atomic for packets. --dry-run validates the file and
loads every program through the verifier without attaching anything.
--expect-generation N applies only if the chain is at generation N (0: only if
it does not exist yet); otherwise the server refuses with FAILED_PRECONDITION.
)";
constexpr const char* kGetUsage = R"(usage: sfcctl get chains

Lists the chains sfcd runs.
)";
constexpr const char* kDescribeUsage = R"(usage: sfcctl describe chain NAME

Shows a chain: its VNFs and their programs, the interfaces it is attached to
(native or generic mode, libxdp dispatcher or single program), and its pins.
)";
constexpr const char* kDeleteUsage = R"(usage: sfcctl delete chain NAME [--expect-generation N]

Detaches the chain from its interfaces and removes every pin it owns.
--expect-generation N deletes only if the chain is at generation N.
)";
constexpr const char* kStatsUsage =
    R"(usage: sfcctl stats NAME [--vnf VNF] [--watch] [--interval MS] [--latency]

Shows the chain's counters and each VNF's, summed over CPUs (the same numbers
`bpftool map dump pinned <root>/NAME/<vnf>/stats` shows per CPU). --watch
prints a new snapshot with per-second rates every interval (default 1000 ms).

--latency shows instead each VNF's time per packet in ns as p50/p90/p99, from
log2 histograms (<root>/NAME/latency) that chains with "timing": true record;
a percentile is the upper edge of its power-of-two bucket. With --watch, the
percentiles cover only the packets of each interval.
)";

// --expect-generation N: true with *out unset when the flag is absent.
bool ParseGeneration(const Args& a, std::optional<uint64_t>* out, std::string* err) {
  if (!a.Has("--expect-generation")) return true;
  const std::string v = a.Get("--expect-generation");
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
    *err = "--expect-generation: \"" + v + "\" is not a generation number";
    return false;
  }
  *out = n;
  return true;
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "-h" || a == "--help") return true;
  return false;
}

std::string Join(const std::vector<std::string>& v, const char* sep = ",") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string TimeString(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::ToString(t);
}

void PrintChainSummary(const v1::Chain& c) {
  std::vector<std::string> vnfs;
  for (const auto& v : c.spec().vnfs()) vnfs.push_back(v.name() + ":" + v.type());
  std::cout << "chain " << c.spec().name() << " generation " << c.generation() << ": "
            << (vnfs.empty() ? "no VNFs" : Join(vnfs, " -> ")) << " -> egress "
            << c.spec().egress().action() << "\n";
}

}  // namespace

int RunApply(Context& ctx, const std::vector<std::string>& args) {
  if (WantsHelp(args)) return std::fputs(kApplyUsage, stdout), kExitOk;
  Args a;
  std::string err;
  std::optional<uint64_t> expected;
  if (!Args::Parse(args, {"-f", "--filename", "--expect-generation"}, {"--dry-run"}, &a, &err) ||
      !ParseGeneration(a, &expected, &err))
    return UsageError(kApplyUsage, err);
  std::string file = a.Get("-f", a.Get("--filename"));
  if (file.empty()) return UsageError(kApplyUsage, "apply: -f FILE is required");
  if (!a.positional().empty())
    return UsageError(kApplyUsage, "apply: unexpected argument " + a.positional()[0]);
  std::string text;
  if (!ReadFile(file, &text)) {
    std::fprintf(stderr, "sfcctl: apply: %s: cannot open: %s\n", file.c_str(),
                 std::strerror(errno));
    return kExitFailed;
  }

  v1::ApplyRequest req;
  req.set_spec_json(text);
  req.set_dry_run(a.Has("--dry-run"));
  if (expected) req.set_expected_generation(*expected);
  v1::ApplyResponse resp;
  grpc::ClientContext call;
  SetDeadline(&call, 120);
  auto st = v1::ChainService::NewStub(ctx.Channel())->Apply(&call, req, &resp);
  if (!st.ok()) return ReportError("apply " + file, st);
  if (ctx.output == Output::kJson) {
    PrintJson(resp);
    return kExitOk;
  }
  const auto& c = resp.chain();
  if (req.dry_run())
    std::cout
        << "chain " << c.spec().name() << " is valid: " << c.spec().vnfs_size()
        << " VNF program(s) and the entry/egress stages passed the verifier (nothing attached)\n";
  else if (!resp.changed())
    std::cout << "chain " << c.spec().name() << " unchanged (generation " << c.generation()
              << ")\n";
  else
    PrintChainSummary(c);
  return kExitOk;
}

int RunGet(Context& ctx, const std::vector<std::string>& args) {
  if (WantsHelp(args)) return std::fputs(kGetUsage, stdout), kExitOk;
  if (args.size() != 1 || (args[0] != "chains" && args[0] != "chain"))
    return UsageError(kGetUsage, "get: expected \"chains\"");
  v1::ListChainsResponse resp;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st = v1::ChainService::NewStub(ctx.Channel())->List(&call, v1::ListChainsRequest(), &resp);
  if (!st.ok()) return ReportError("get chains", st);
  if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : resp.chains()) {
    std::vector<std::string> ifs, vnfs;
    int attached = 0;
    for (const auto& i : c.spec().interfaces()) ifs.push_back(i.name());
    for (const auto& v : c.spec().vnfs()) vnfs.push_back(v.name() + ":" + v.type());
    for (const auto& at : c.attachments()) attached += at.attached();
    rows.push_back({c.spec().name(), std::to_string(c.generation()), Join(ifs),
                    std::to_string(attached) + "/" + std::to_string(c.attachments_size()),
                    vnfs.empty() ? "-" : Join(vnfs), c.spec().egress().action()});
  }
  PrintTable({"NAME", "GENERATION", "INTERFACES", "ATTACHED", "VNFS", "EGRESS"}, rows);
  return kExitOk;
}

int RunDescribe(Context& ctx, const std::vector<std::string>& args) {
  if (WantsHelp(args)) return std::fputs(kDescribeUsage, stdout), kExitOk;
  if (args.size() != 2 || args[0] != "chain")
    return UsageError(kDescribeUsage, "describe: expected \"chain NAME\"");
  v1::GetChainRequest req;
  req.set_name(args[1]);
  v1::Chain c;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st = v1::ChainService::NewStub(ctx.Channel())->Get(&call, req, &c);
  if (!st.ok()) return ReportError("describe chain " + args[1], st);
  if (ctx.output == Output::kJson) return PrintJson(c), kExitOk;

  std::cout << "Name:         " << c.spec().name() << "\n"
            << "Generation:   " << c.generation() << "\n"
            << "Applied:      " << TimeString(c.applied_at()) << "\n"
            << "Pins:         " << c.pin_dir() << "\n"
            << "Egress:       " << c.spec().egress().action()
            << (c.spec().egress().port().empty() ? "" : " (port " + c.spec().egress().port() + ")")
            << "\n"
            << "Fail policy:  " << c.spec().fail_policy() << "\n"
            << "Timing:       " << (c.spec().timing() ? "on" : "off") << "\n\nInterfaces:\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& at : c.attachments())
    rows.push_back({"  " + at.interface(), std::to_string(at.ifindex()),
                    at.attached() ? "yes" : "NO", at.mode().empty() ? "-" : at.mode(),
                    at.libxdp_mode().empty() ? "-" : at.libxdp_mode(),
                    std::to_string(at.prog_id())});
  PrintTable({"  INTERFACE", "IFINDEX", "ATTACHED", "MODE", "LIBXDP", "PROG_ID"}, rows);
  std::cout << "\nVNFs:\n";
  rows.clear();
  for (const auto& v : c.vnfs())
    rows.push_back({"  " + std::to_string(v.slot()), v.name(), v.type(),
                    std::to_string(v.prog_id()), v.pin_dir()});
  PrintTable({"  SLOT", "NAME", "TYPE", "PROG_ID", "PINS"}, rows);
  return kExitOk;
}

int RunDelete(Context& ctx, const std::vector<std::string>& args) {
  if (WantsHelp(args)) return std::fputs(kDeleteUsage, stdout), kExitOk;
  Args a;
  std::string err;
  std::optional<uint64_t> expected;
  if (!Args::Parse(args, {"--expect-generation"}, {}, &a, &err) ||
      !ParseGeneration(a, &expected, &err))
    return UsageError(kDeleteUsage, err);
  const auto& pos = a.positional();
  if (pos.size() != 2 || pos[0] != "chain")
    return UsageError(kDeleteUsage, "delete: expected \"chain NAME\"");
  v1::DeleteChainRequest req;
  req.set_name(pos[1]);
  if (expected) req.set_expected_generation(*expected);
  v1::DeleteChainResponse resp;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st = v1::ChainService::NewStub(ctx.Channel())->Delete(&call, req, &resp);
  if (!st.ok()) return ReportError("delete chain " + pos[1], st);
  if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
  std::cout << "chain " << pos[1] << " deleted\n";
  return kExitOk;
}

namespace {

using CounterMap = std::map<std::string, uint64_t>;

void PrintCounters(const v1::ChainStats& s, const v1::ChainStats* prev, double seconds) {
  auto rows_of = [&](const std::string& scope,
                     const google::protobuf::RepeatedPtrField<v1::Counter>& now,
                     const google::protobuf::RepeatedPtrField<v1::Counter>* before,
                     std::vector<std::vector<std::string>>& rows) {
    CounterMap old;
    if (before)
      for (const auto& c : *before) old[c.name()] = c.value();
    for (const auto& c : now) {
      std::vector<std::string> row = {scope, c.name(), std::to_string(c.value())};
      if (prev) {
        double rate = seconds > 0 ? (c.value() - old[c.name()]) / seconds : 0;
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.1f", rate);
        row.push_back(buf);
      }
      rows.push_back(row);
    }
  };
  std::vector<std::vector<std::string>> rows;
  rows_of("chain", s.counters(), prev ? &prev->counters() : nullptr, rows);
  for (int i = 0; i < s.vnfs_size(); ++i) {
    const auto* before = prev && i < prev->vnfs_size() ? &prev->vnfs(i).counters() : nullptr;
    rows_of(s.vnfs(i).name() + " (" + s.vnfs(i).type() + ")", s.vnfs(i).counters(), before, rows);
  }
  std::vector<std::string> header = {"SCOPE", "COUNTER", "VALUE"};
  if (prev) header.push_back("PER_SEC");
  PrintTable(header, rows);
}

// Percentiles of each VNF's histogram; with `prev`, of what it gained since.
void PrintLatency(const v1::ChainStats& s, const v1::ChainStats* prev) {
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < s.vnfs_size(); ++i) {
    const auto& v = s.vnfs(i);
    LatencyHistogram h;
    for (int b = 0; b < v.latency().buckets_size() && b < LatencyHistogram::kBuckets; ++b) {
      uint64_t n = v.latency().buckets(b);
      if (prev && i < prev->vnfs_size() && prev->vnfs(i).name() == v.name() &&
          b < prev->vnfs(i).latency().buckets_size())
        n -= std::min(n, prev->vnfs(i).latency().buckets(b));
      h.Add(b, n);
    }
    auto ns = [&](double q) { return h.count() ? std::to_string(h.QuantileNs(q)) : "-"; };
    rows.push_back({v.name(), v.type(), std::to_string(h.count()), ns(0.50), ns(0.90), ns(0.99)});
  }
  PrintTable({"VNF", "TYPE", "PACKETS", "P50_NS", "P90_NS", "P99_NS"}, rows);
}

void WarnUntimed(const v1::ChainStats& s) {
  if (!s.timing())
    std::cerr << "sfcctl: chain " << s.chain()
              << " has timing off, so no latency is recorded (set \"timing\": true)\n";
}

}  // namespace

int RunStats(Context& ctx, const std::vector<std::string>& args) {
  if (WantsHelp(args)) return std::fputs(kStatsUsage, stdout), kExitOk;
  Args a;
  std::string err;
  if (!Args::Parse(args, {"--vnf", "--interval"}, {"--watch", "-w", "--latency"}, &a, &err))
    return UsageError(kStatsUsage, err);
  if (a.positional().size() != 1) return UsageError(kStatsUsage, "stats: expected one chain NAME");
  const std::string chain = a.positional()[0];
  const bool latency = a.Has("--latency");
  auto stub = v1::StatsService::NewStub(ctx.Channel());

  if (!a.Has("--watch") && !a.Has("-w")) {
    v1::GetStatsRequest req;
    req.set_chain(chain);
    req.set_vnf(a.Get("--vnf"));
    req.set_latency(latency);
    v1::ChainStats resp;
    grpc::ClientContext call;
    SetDeadline(&call);
    auto st = stub->Get(&call, req, &resp);
    if (!st.ok()) return ReportError("stats " + chain, st);
    if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
    if (latency) {
      WarnUntimed(resp);
      PrintLatency(resp, nullptr);
    } else {
      PrintCounters(resp, nullptr, 0);
    }
    return kExitOk;
  }

  v1::WatchStatsRequest req;
  req.set_chain(chain);
  req.set_vnf(a.Get("--vnf"));
  req.set_interval_ms(static_cast<uint32_t>(std::stoul(a.Get("--interval", "1000"))));
  req.set_latency(latency);
  grpc::ClientContext call;
  auto reader = stub->Watch(&call, req);
  v1::ChainStats msg, prev;
  bool have_prev = false;
  while (reader->Read(&msg)) {
    if (ctx.output == Output::kJson) {
      PrintJson(msg);
    } else {
      double secs = have_prev ? (msg.time().seconds() - prev.time().seconds()) +
                                    (msg.time().nanos() - prev.time().nanos()) / 1e9
                              : 0;
      std::cout << "--- " << TimeString(msg.time()) << "\n";
      if (latency) {
        if (!have_prev) WarnUntimed(msg);
        PrintLatency(msg, have_prev ? &prev : nullptr);
      } else {
        PrintCounters(msg, have_prev ? &prev : nullptr, secs);
      }
    }
    std::cout.flush();
    prev = msg;
    have_prev = true;
  }
  auto st = reader->Finish();
  if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED)
    return ReportError("stats --watch " + chain, st);
  return kExitOk;
}

}  // namespace sfc::cli
