#include "micro.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "bench_prog.h"
#include "blocklist.h"
#include "common/failpoint.h"
#ifdef SFC_BENCH_DPI
#include "dpi/app_catalog.h"
#include "dpi/classifier.h"
#include "dpi/dpi.h"
#endif
#include "efw/config.h"
#include "efw/maps.h"
#include "monitor/maps.h"
#include "monitor/settings.h"
#include "support/chain_fixture.h"
#include "support/packet.h"
#include "support/xdp_run.h"

namespace sfc::bench {
namespace {

using json = nlohmann::json;
using sfc::test::Bytes;
using sfc::test::LoadedChain;
using sfc::test::PacketBuilder;

constexpr const char* kClientMac = "02:00:00:00:00:01";
constexpr const char* kVmMac = "02:00:00:00:00:02";

struct Sizes {
  size_t single_runs;     // BPF_PROG_TEST_RUN calls for a "single" timing
  uint32_t repeat;        // runs per call for a "repeat" timing
  int repeat_samples;     // calls for a "repeat" timing
  size_t distinct_flows;  // frames walked for flow-table, connection and rule-scaling timings
  uint32_t repeat_each;   // runs per frame when each of a sample of frames is timed in repeat mode
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * (sorted.size() - 1) + 0.5))];
}

// Mean of the middle 80 %: the kernel's clock steps in ~10 ns here, so a
// median cannot resolve a few ns; a plain mean carries every interrupt that
// landed in a run.
double TrimmedMean(const std::vector<double>& sorted) {
  size_t lo = sorted.size() / 10, hi = sorted.size() - sorted.size() / 10;
  if (hi <= lo) return sorted.empty() ? 0 : sorted[sorted.size() / 2];
  double sum = 0;
  for (size_t i = lo; i < hi; ++i) sum += sorted[i];
  return sum / (hi - lo);
}

// Median of `samples` calls of `repeat` runs each.
Result<json> TimeRepeat(int fd, const Bytes& frame, const Sizes& z) {
  std::vector<double> ns;
  for (int i = 0; i < z.repeat_samples; ++i) {
    SFC_ASSIGN_OR_RETURN(auto run, sfc::test::RunXdp(fd, frame, 1, z.repeat));
    ns.push_back(run.duration_ns);
  }
  return json{{"ns", Median(ns)},
              {"min", *std::min_element(ns.begin(), ns.end())},
              {"max", *std::max_element(ns.begin(), ns.end())},
              {"calls", ns.size()},
              {"repeat", z.repeat}};
}

// Each frame timed in repeat mode on its own (warm caches for that frame's
// lookups); the mean over the frames.
Result<json> TimeRepeatEach(int fd, const std::vector<Bytes>& frames, uint32_t repeat) {
  double sum = 0;
  for (const auto& f : frames) {
    SFC_ASSIGN_OR_RETURN(auto run, sfc::test::RunXdp(fd, f, 1, repeat));
    sum += run.duration_ns;
  }
  return json{{"ns", frames.empty() ? 0 : sum / frames.size()},
              {"frames", frames.size()},
              {"repeat", repeat}};
}

json Summary(std::vector<double> ns) {
  double mean = 0;
  for (double v : ns) mean += v / ns.size();
  std::sort(ns.begin(), ns.end());
  return json{{"ns", Percentile(ns, 0.5)},  {"mean", mean},
              {"tmean", TrimmedMean(ns)},   {"p10", Percentile(ns, 0.1)},
              {"p90", Percentile(ns, 0.9)}, {"calls", ns.size()}};
}

// One run per call over `frames` (cycled up to `runs` calls). With
// `actions`, the verdicts in order, and the timing split by verdict too.
Result<json> TimeSingle(int fd, const std::vector<Bytes>& frames, size_t runs,
                        std::vector<int>* actions = nullptr) {
  std::vector<double> ns;
  std::map<int, std::vector<double>> by_action;
  ns.reserve(runs);
  for (size_t i = 0; i < runs; ++i) {
    SFC_ASSIGN_OR_RETURN(auto run, sfc::test::RunXdp(fd, frames[i % frames.size()], 1, 1));
    ns.push_back(run.duration_ns);
    if (!actions) continue;
    actions->push_back(run.action);
    by_action[run.action].push_back(run.duration_ns);
  }
  json out = Summary(std::move(ns));
  if (by_action.size() > 1)
    for (auto& [action, v] : by_action)
      out["by_verdict"][sfc::test::XdpActionName(action)] = Summary(std::move(v));
  return out;
}

json Or(const Result<json>& r) {
  return r.ok() ? r.value() : json{{"error", r.status().ToString()}};
}

json VerdictCounts(const std::vector<int>& actions) {
  json out = json::object();
  for (int a : actions) {
    std::string k = sfc::test::XdpActionName(a);
    out[k] = out.value(k, 0) + 1;
  }
  return out;
}

// Distinct flows from 198.18.0.0/15 (RFC 2544's benchmarking range).
std::string FlowSrc(size_t i) {
  return Ipv4String((198u << 24 | 18u << 16) + static_cast<uint32_t>(i / 50000) + 1);
}
uint16_t FlowPort(size_t i) { return static_cast<uint16_t>(10000 + i % 50000); }

class Micro {
 public:
  Micro(const MicroOptions& o, json base) : o_(o), base_(std::move(base)) {
    z_ = o.quick ? Sizes{2000, 20000, 3, 2000, 2000} : Sizes{20000, 200000, 5, 20000, 5000};
    net_ = "10." + std::to_string(o.net) + ".";
    vip_ = FindVip();
  }

  json Run() {
    auto progs = LoadBenchProgs({});
    if (!progs.ok()) {
      Add({{"name", "xdp_pass"}, {"error", progs.status().ToString()}});
      return Finish();
    }
    pass_fd_ = bpf_program__fd((*progs)->progs.bench_pass);
    parse_fd_ = bpf_program__fd((*progs)->progs.bench_parse);
    Bytes udp = UdpToVip();
    {
      json c = {{"name", "xdp_pass"}, {"what", "bare XDP_PASS program"}};
      c["single"] = Or(TimeSingle(pass_fd_, {udp}, z_.single_runs));
      c["repeat"] = Or(TimeRepeat(pass_fd_, udp, z_));
      Add(c);
    }
    {
      json c = {{"name", "parse_only"},
                {"what",
                 "bare program: the shared parser (sfc/parser.h) into a per-CPU struct, XDP_PASS"}};
      c["single"] = Or(TimeSingle(parse_fd_, {udp}, z_.single_runs));
      c["repeat"] = Or(TimeRepeat(parse_fd_, udp, z_));
      if (c["single"].contains("tmean") && c["repeat"].contains("ns")) {
        parse_single_ = c["single"]["tmean"];
        parse_repeat_ = c["repeat"]["ns"];
      }
      c["estimate_ns"] = c["repeat"].value("ns", 0.0);
      c["estimate_method"] = "repeat";
      Add(c);
    }
#ifdef SFC_BENCH_DPI
    if (o_.only == "dpi") {
      DpiLabelCost();
      DpiClassifierThroughput();
      return Finish();
    }
#endif
    if (!o_.only.empty()) {
      Add({{"name", "only"}, {"error", "--only: unknown group \"" + o_.only + "\" (dpi)"}});
      return Finish();
    }
    ChainCase("entry_only", "chain entry (parse, context) + egress pass, no VNF", json::array());
    for (const auto& v : base_["vnfs"])
      ChainCase("vnf_" + v["type"].get<std::string>(),
                "entry + " + v["name"].get<std::string>() + " alone + egress", json::array({v}));
    ChainCase("full_chain", "entry + every VNF of the chain file + egress pass", base_["vnfs"]);
    FullChainSplit();
    MonitorCost();
    FirewallScaling();
    FlowTableScaling();
    LoadBalancerNewVsEstablished();
#ifdef SFC_BENCH_DPI
    DpiLabelCost();
    DpiClassifierThroughput();
#endif
    return Finish();
  }

 private:
  json Finish() {
    return json{{"cases", cases_},
                {"options",
                 {{"chain_file", o_.chain_file},
                  {"quick", o_.quick},
                  {"cpu", o_.cpu},
                  {"only", o_.only},
                  {"single_runs", z_.single_runs},
                  {"repeat", z_.repeat},
                  {"repeat_samples", z_.repeat_samples},
                  {"distinct_flows", z_.distinct_flows},
                  {"repeat_each", z_.repeat_each}}}};
  }

  void Add(json c) {
    fprintf(stderr, "micro: %s\n", c.dump().c_str());
    cases_.push_back(std::move(c));
  }

  // The load balancer rewrites frames it forwards; repeat timings would then
  // run later iterations on the rewritten frame.
  static bool Rewrites(const json& vnfs) {
    for (const auto& v : vnfs)
      if (v.value("type", "") == "loadbalancer") return true;
    return false;
  }

  std::string FindVip() const {
    for (const auto& v : base_["vnfs"])
      if (v.value("type", "") == "loadbalancer")
        for (const auto& s : v["config"]["services"])
          if (s.value("proto", "tcp") == "udp") return s["vip"];
    return net_ + "100.1";
  }
  uint16_t ServicePort(const std::string& proto, uint16_t fallback) const {
    for (const auto& v : base_["vnfs"])
      if (v.value("type", "") == "loadbalancer")
        for (const auto& s : v["config"]["services"])
          if (s.value("proto", "tcp") == proto) return s.value("port", fallback);
    return fallback;
  }

  Bytes UdpFrom(const std::string& src, uint16_t sport) const {
    return PacketBuilder()
        .Eth(kClientMac, kVmMac)
        .Ipv4(src, vip_)
        .Udp(sport, ServicePort("udp", 9))
        .Payload(22)
        .Build();
  }
  Bytes UdpToVip() const { return UdpFrom(net_ + "1.2", 40000); }
  Bytes FlowFrame(size_t i, uint8_t tcp_flags = 0) const {
    PacketBuilder b;
    b.Eth(kClientMac, kVmMac).Ipv4(FlowSrc(i), vip_);
    if (tcp_flags)
      b.Tcp(FlowPort(i), ServicePort("tcp", 80), tcp_flags, 1000,
            tcp_flags & sfc::test::kTcpAck ? 1 : 0);
    else
      b.Udp(FlowPort(i), ServicePort("udp", 9));
    return b.Payload(tcp_flags ? 10 : 22).Build();
  }

  json Spec(const std::string& name, const json& vnfs, bool timing = false) const {
    return json{{"name", name},
                {"interfaces", json::array({"lo"})},
                {"vnfs", vnfs},
                {"egress", {{"action", "pass"}}},
                {"timing", timing}};
  }

  // Loads a chain, timing the load (rule compilation, map fills) too.
  Result<std::unique_ptr<LoadedChain>> Load(const json& spec, double* load_s) {
    auto t0 = std::chrono::steady_clock::now();
    auto chain = LoadedChain::Load(spec.dump());
    *load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return chain;
  }

  // Sends each frame once (flows become known to every VNF); false if any run fails.
  static bool Prime(int fd, const std::vector<Bytes>& frames) {
    for (const auto& f : frames)
      if (!sfc::test::RunXdp(fd, f, 1, 1).ok()) return false;
    return true;
  }

  // The bare parse program timed like `single` over the same frames: the
  // reference a single timing is corrected with (see micro.h).
  json Reference(const std::vector<Bytes>& frames, size_t runs) {
    json ref = Or(TimeSingle(parse_fd_, frames, runs));
    ref["repeat_ns"] = parse_repeat_;
    return ref;
  }
  static json Corrected(const json& single, const json& ref) {
    if (!single.contains("tmean") || !ref.contains("tmean"))
      return json{{"error", "no single timing"}};
    return json{{"ns", single["tmean"].get<double>() - ref["tmean"].get<double>() +
                           ref["repeat_ns"].get<double>()}};
  }
  // The case's headline figure: repeat where the frames allow it, else the
  // corrected single timing; says which.
  static void Estimate(json& c) {
    if (c.contains("repeat") && c["repeat"].contains("ns")) {
      c["estimate_ns"] = c["repeat"]["ns"];
      c["estimate_method"] = c["repeat"].contains("frames")         ? "repeat-each"
                             : c["repeat"].value("mirrored", false) ? "repeat-mirrored"
                                                                    : "repeat";
    } else if (c.contains("single_corrected") && c["single_corrected"].contains("ns")) {
      c["estimate_ns"] = c["single_corrected"]["ns"];
      c["estimate_method"] = "single-corrected";
    }
  }

  void ChainCase(const std::string& name, const std::string& what, const json& vnfs) {
    json c = {{"name", name}, {"what", what}};
    double load_s = 0;
    auto chain = Load(Spec("bm-" + name, vnfs), &load_s);
    if (!chain.ok()) {
      c["error"] = chain.status().ToString();
      return Add(c);
    }
    int fd = (*chain)->entry_fd();
    Bytes udp = UdpToVip();
    if (!Prime(fd, {udp})) {
      c["error"] = "BPF_PROG_TEST_RUN failed on the first packet";
      return Add(c);
    }
    std::vector<int> actions;
    c["single"] = Or(TimeSingle(fd, {udp}, z_.single_runs, &actions));
    c["reference"] = json{{"tmean", parse_single_}, {"repeat_ns", parse_repeat_}};
    c["single_corrected"] = Corrected(c["single"], c["reference"]);
    c["repeat"] = Rewrites(vnfs) ? Or(TimeMirrored(name, vnfs)) : Or(TimeRepeat(fd, udp, z_));
    c["action"] = actions.empty() ? "?" : sfc::test::XdpActionName(actions.back());
    c["load_s"] = load_s;
    Estimate(c);
    Add(c);
  }

  // The drop and verdict monitor (docs/monitor.md) on the chain file's
  // firewall alone: off (how every chain runs unless watched), on for drops
  // while the traffic is allowed (every stage takes the branch and the report
  // filters), and on for a flood of drops rate-limited at the default 1000
  // events/s per CPU (the report's filter, token bucket and counters per
  // packet; nobody reads the ring). The off cost against a build without the
  // monitor is in docs/perf/monitor-off.json (two binaries, same runs).
  void MonitorCost() {
    json fw;
    for (const auto& v : base_["vnfs"])
      if (v["type"] == "firewall") fw = v;
    if (fw.is_null()) return;
    double load_s = 0;
    auto chain = Load(Spec("bm-monitor", json::array({fw})), &load_s);
    if (!chain.ok()) return Add({{"name", "monitor_off"}, {"error", chain.status().ToString()}});
    auto maps = monitor::ChainMonitorMaps::Open((*chain)->engine().pins(), (*chain)->name());
    if (!maps.ok()) return Add({{"name", "monitor_off"}, {"error", maps.status().ToString()}});
    int fd = (*chain)->entry_fd();
    Bytes allowed = UdpToVip();
    PacketBuilder ssh;  // the chain file's rule no-ssh drops it
    ssh.Eth(kClientMac, kVmMac)
        .Ipv4(net_ + "1.2", vip_)
        .Tcp(40001, 22, sfc::test::kTcpSyn)
        .Payload(10);
    Bytes dropped = ssh.Build();
    if (!Prime(fd, {allowed, dropped}))
      return Add({{"name", "monitor_off"}, {"error", "BPF_PROG_TEST_RUN failed"}});

    auto time = [&](const std::string& name, const std::string& what, uint32_t mode,
                    const Bytes& frame) {
      monitor::Settings s;
      s.mode = mode;
      json c = {{"name", name}, {"what", what}};
      if (Status st = maps->Write(monitor::ToConfig(s)); !st.ok()) {
        c["error"] = st.ToString();
        return Add(c);
      }
      auto before = maps->ReadCounters();
      c["repeat"] = Or(TimeRepeat(fd, frame, z_));
      auto after = maps->ReadCounters();
      if (before.ok() && after.ok())
        c["monitor"] = {{"events", after->events - before->events},
                        {"rate_limited", after->rate_limited - before->rate_limited},
                        {"lost", after->lost - before->lost}};
      Estimate(c);
      Add(c);
    };
    time("monitor_off", "entry + firewall + egress, allowed UDP, monitor off", SFC_MON_OFF,
         allowed);
    time("monitor_drops_allowed",
         "entry + firewall + egress, allowed UDP, monitor on (drops): nothing to report",
         SFC_MON_DROPS, allowed);
    time("monitor_off_drop_flood", "entry + firewall, dropped TCP (rule no-ssh), monitor off",
         SFC_MON_OFF, dropped);
    time("monitor_drops_drop_flood",
         "entry + firewall, dropped TCP (rule no-ssh), monitor on (drops), 1000 events/s per CPU",
         SFC_MON_DROPS, dropped);
    (void)maps->Write(monitor::ToConfig(monitor::Settings{}));
  }

  // A repeat run times later iterations on the frame as the previous one
  // left it, so a chain that rewrites (DNAT to a backend) would mostly be
  // timed on packets that no longer go to the VIP. Mirrored, every backend
  // of the timed service is a VIP itself, whose one backend is the original
  // VIP (and the firewall allows it): the iterations alternate between two
  // known connections, each rewritten like the real one. The frame is
  // checked to come back to the VIP after two runs and to leave it after one.
  Result<json> TimeMirrored(const std::string& name, const json& vnfs) {
    json mirrored = vnfs;
    json mirror_rules = json::array();
    for (auto& v : mirrored) {
      if (v.value("type", "") != "loadbalancer") continue;
      json extra = json::array();
      for (const auto& s : v["config"]["services"]) {
        if (s.value("proto", "tcp") != "udp" || s["vip"] != vip_) continue;
        for (const auto& b : s["backends"]) {
          int port = b.value("port", s.value("port", 0));
          extra.push_back(
              {{"name", "mirror-" + std::to_string(extra.size())},
               {"vip", b["address"]},
               {"proto", "udp"},
               {"port", port},
               {"mode", "dnat"},
               {"backends", json::array({{{"address", vip_}, {"port", s.value("port", 0)}}})}});
          mirror_rules.push_back({{"id", "mirror-" + std::to_string(mirror_rules.size())},
                                  {"dst", b["address"].get<std::string>() + "/32"},
                                  {"proto", "udp"},
                                  {"dport", port},
                                  {"action", "allow"}});
        }
      }
      for (auto& e : extra) v["config"]["services"].push_back(e);
    }
    for (auto& v : mirrored)
      if (v.value("type", "") == "firewall")
        for (const auto& r : mirror_rules) v["config"]["rules"].push_back(r);
    double load_s = 0;
    SFC_ASSIGN_OR_RETURN(auto chain, Load(Spec("bm-" + name + "-m", mirrored), &load_s));
    int fd = chain->entry_fd();
    Bytes udp = UdpToVip();
    if (!Prime(fd, {udp}) || !Prime(fd, {udp, udp}))
      return Internal("BPF_PROG_TEST_RUN failed on the mirrored chain");
    SFC_ASSIGN_OR_RETURN(auto once, sfc::test::RunXdp(fd, udp, 1, 1));
    SFC_ASSIGN_OR_RETURN(auto twice, sfc::test::RunXdp(fd, udp, 1, 2));
    if (Ipv4Dst(once.out) == vip_ || Ipv4Dst(twice.out) != vip_)
      return Internal(
          "mirrored chain does not alternate between the VIP and a backend (after one run: " +
          Ipv4Dst(once.out) + ", after two: " + Ipv4Dst(twice.out) + ")");
    SFC_ASSIGN_OR_RETURN(json t, TimeRepeat(fd, udp, z_));
    t["mirrored"] = true;
    return t;
  }

  static std::string Ipv4Dst(const Bytes& frame) {
    constexpr size_t kDstOff = 14 + 16;  // untagged Ethernet, IPv4 daddr
    if (frame.size() < kDstOff + 4) return "?";
    uint32_t be;
    memcpy(&be, frame.data() + kDstOff, 4);
    return Ipv4String(ntohl(be));
  }

  // The full chain with the engine's per-VNF timing on: where the time goes.
  void FullChainSplit() {
    json c = {{"name", "full_chain_split"},
              {"what", "full chain with \"timing\": run_ns per VNF / rx_packets"}};
    double load_s = 0;
    auto chain = Load(Spec("bm-split", base_["vnfs"], true), &load_s);
    if (!chain.ok()) {
      c["error"] = chain.status().ToString();
      return Add(c);
    }
    c["single"] = Or(TimeSingle((*chain)->entry_fd(), {UdpToVip()}, z_.single_runs));
    json per_vnf = json::object();
    for (const auto& v : base_["vnfs"]) {
      std::string n = v["name"];
      auto ns = (*chain)->VnfCounter(n, "run_ns");
      auto pk = (*chain)->VnfCounter(n, "rx_packets");
      if (ns.ok() && pk.ok() && *pk > 0)
        per_vnf[n] = {{"type", v["type"]}, {"ns", double(*ns) / *pk}, {"packets", *pk}};
      else
        per_vnf[n] = {{"error", !ns.ok() ? ns.status().ToString() : pk.status().ToString()}};
    }
    c["per_vnf"] = per_vnf;
    Add(c);
  }

  const json* VnfOfType(const std::string& type) const {
    for (const auto& v : base_["vnfs"])
      if (v.value("type", "") == type) return &v;
    return nullptr;
  }

  // eFW alone with an n-prefix source blocklist (blocklist.h: prefixes /16
  // to /32 in the traffic's own /8) ahead of the chain file's rules. The
  // timed walk alternates a packet of a known client flow (passes: every
  // blocklist lookup has to miss) and a packet from a random blocklisted
  // source (dropped), so every packet reaches the rules. The verdicts are
  // recorded as the proof.
  void FirewallScaling() {
    const json* fw = VnfOfType("firewall");
    std::vector<size_t> counts = o_.quick ? std::vector<size_t>{10, 1000}
                                          : std::vector<size_t>{10, 1000, 10000, 100000, 1000000};
    for (size_t n : counts) {
      json c = {{"name", "efw_rules_" + std::to_string(n)},
                {"what", "firewall alone, " + std::to_string(n) +
                             " blocklist prefixes + the chain file's rules, "
                             "half the packets from blocklisted sources"},
                {"rules", n}};
      if (!fw) {
        c["error"] = "the chain file has no firewall VNF";
        Add(c);
        continue;
      }
      auto bl = Blocklist::Make(n, o_.net);
      if (!bl.ok()) {
        c["error"] = bl.status().ToString();
        Add(c);
        continue;
      }
      json v = *fw;
      json rules = json::array();
      for (size_t j = 0; j < bl->prefixes().size(); ++j)
        rules.push_back({{"id", "block-" + std::to_string(j)},
                         {"src", PrefixString(bl->prefixes()[j])},
                         {"action", "drop"}});
      for (const auto& r : v["config"].value("rules", json::array())) rules.push_back(r);
      c["total_rules"] = rules.size();
      v["config"]["rules"] = rules;
      v["config"]["max_rules"] = rules.size() + 1024;
      double load_s = 0;
      auto chain = Load(Spec("bm-efw-" + std::to_string(n), json::array({v})), &load_s);
      if (!chain.ok()) {
        c["error"] = chain.status().ToString();
        Add(c);
        continue;
      }
      int fd = (*chain)->entry_fd();
      size_t k = z_.distinct_flows / 2;
      std::vector<Bytes> known, walk;
      for (size_t i = 0; i < k; ++i)
        known.push_back(UdpFrom(net_ + "1.2", static_cast<uint16_t>(20000 + i % 40000)));
      auto hits = bl->HitSources(k);
      for (size_t i = 0; i < k; ++i) {
        walk.push_back(known[i]);
        walk.push_back(UdpFrom(Ipv4String(hits[i]), 40000));
      }
      c["load_s"] = load_s;
      c["lookup"] = "prefix hash";

      // The same rules and walk with the address tables as tries, timed
      // first (then the rules go back to the compiler's choice, the prefix
      // hash, and that is timed), so that neither lookup gets the other's
      // warm-up.
      json t = {{"name", "efw_trie_" + std::to_string(n)},
                {"what", c["what"].get<std::string>() + ", address tables as tries"},
                {"rules", n},
                {"total_rules", rules.size()},
                {"lookup", "trie"}};
      if (Status st = Reinstall(**chain, v, 0); !st.ok())
        t["error"] = st.ToString();
      else
        TimeRuleWalk(fd, known, walk, t);
      Add(t);
      if (Status st = Reinstall(**chain, v, EFW_HASH_LENS); !st.ok())
        c["error"] = st.ToString();
      else
        TimeRuleWalk(fd, known, walk, c);
      Add(c);
    }
  }

  // Re-installs firewall `vnf`'s rules in `chain` with address tables of at
  // most `max_hash_lengths` prefix lengths as prefix hashes (0: all tries).
  static Status Reinstall(LoadedChain& chain, const json& vnf, uint32_t max_hash_lengths) {
    SFC_ASSIGN_OR_RETURN(efw::FirewallConfig cfg,
                         efw::ParseFirewallConfig(vnf["config"], "config"));
    std::string dir = chain.PinPath(vnf["name"], "x");
    dir.resize(dir.size() - 2);
    SFC_ASSIGN_OR_RETURN(efw::FirewallTables tables, efw::FirewallTables::FromPins(dir));
    tables.set_max_hash_lengths(max_hash_lengths);
    SFC_ASSIGN_OR_RETURN(efw::InstallStats st, tables.Install(cfg.rules, cfg.default_action));
    if ((st.hashed_tables > 0) != (max_hash_lengths > 0))
      return Internal("the address tables are not what the install asked for");
    return Status::Ok();
  }

  // Times the eFW rule walk (`walk` alternates `known` flows and blocklisted
  // sources) into case `c`.
  void TimeRuleWalk(int fd, const std::vector<Bytes>& known, const std::vector<Bytes>& walk,
                    json& c) {
    if (!Prime(fd, known)) {
      c["error"] = "BPF_PROG_TEST_RUN failed while priming the known flows";
      return;
    }
    std::vector<int> actions;
    c["single"] = Or(TimeSingle(fd, walk, walk.size(), &actions));
    c["verdicts"] = VerdictCounts(actions);
    c["reference"] = Reference(walk, walk.size());
    c["single_corrected"] = Corrected(c["single"], c["reference"]);
    if (c["single"].contains("by_verdict"))
      for (auto& [verdict, t] : c["single"]["by_verdict"].items())
        c["single_corrected"]["by_verdict"][verdict] = Corrected(t, c["reference"])["ns"];
    std::vector<Bytes> sample(walk.begin(), walk.begin() + std::min<size_t>(walk.size(), 64));
    c["repeat_each"] = Or(TimeRepeatEach(fd, sample, z_.repeat_each));
    // The walk (every packet a different rule, as at line rate) is the
    // headline; repeat-each (one frame at a time, its path through the
    // tables warm in cache) is the lower bound next to it.
    c["estimate_ns"] = c["single_corrected"].value("ns", 0.0);
    c["estimate_method"] = "single-corrected";
  }

  // eFM with `n` flows in its table, then a walk over up to distinct_flows of
  // them (cache-cold when the table is large), against the parse program
  // walked alike.
#ifdef SFC_BENCH_DPI
  // dpi on a flow it has classified: the flow key, one flow-table lookup, the
  // flow's and the application's counters, the label into the packet context.
  // Timed against the same chain without dpi (entry + egress) and with a noop
  // VNF in its place (what any VNF's slot costs), alternately, so that all
  // three see the same machine.
  // The classifier thread is kept off and the label written as it would.
  void DpiLabelCost() {
    json c = {{"name", "dpi_classified"},
              {"what", "dpi alone on a classified flow (pkt->app set), against no VNF"}};
    failpoint::Arm("dpi.classifier_start", failpoint::Action::kError);
    double load_s = 0;
    auto with =
        Load(Spec("bm-dpi", json::array({json{{"name", "dpi"}, {"type", "dpi"}}})), &load_s);
    auto without = Load(Spec("bm-nodpi", json::array()), &load_s);
    // A VNF that does nothing: what any VNF's slot costs (tail call, counters).
    auto noop =
        Load(Spec("bm-dpinoop", json::array({json{{"name", "n"}, {"type", "noop"}}})), &load_s);
    failpoint::DisarmAll();
    if (!with.ok() || !without.ok() || !noop.ok()) {
      c["error"] = (!with.ok()      ? with.status()
                    : !without.ok() ? without.status()
                                    : noop.status())
                       .ToString();
      return Add(c);
    }
    const Bytes udp = UdpToVip();
    if (!Prime((*with)->entry_fd(), {udp}) || !Prime((*without)->entry_fd(), {udp}) ||
        !Prime((*noop)->entry_fd(), {udp})) {
      c["error"] = "BPF_PROG_TEST_RUN failed on the first packet";
      return Add(c);
    }
    auto flows = (*with)->OpenMap("dpi", "flows");
    if (!flows.ok()) {
      c["error"] = flows.status().ToString();
      return Add(c);
    }
    dpi_flow_key key{}, next{};
    if (bpf_map_get_next_key(flows->get(), nullptr, &next) != 0) {
      c["error"] = "the primed flow is not in the dpi table";
      return Add(c);
    }
    key = next;
    dpi_flow v{};
    bpf_map_lookup_elem(flows->get(), &key, &v);
    v.state = DPI_CLASSIFIED;
    v.app = dpi::AppCatalog::Get().AppId("DNS").value_or(5);
    v.category = 14;
    bpf_map_update_elem(flows->get(), &key, &v, BPF_EXIST);
    std::vector<double> with_ns, without_ns, noop_ns;
    for (int round = 0; round < 5; ++round) {
      auto a = TimeRepeat((*without)->entry_fd(), udp, z_);
      auto b = TimeRepeat((*with)->entry_fd(), udp, z_);
      auto n = TimeRepeat((*noop)->entry_fd(), udp, z_);
      if (!a.ok() || !b.ok() || !n.ok()) {
        c["error"] = (!a.ok() ? a.status() : !b.ok() ? b.status() : n.status()).ToString();
        return Add(c);
      }
      without_ns.push_back((*a)["ns"].get<double>());
      with_ns.push_back((*b)["ns"].get<double>());
      noop_ns.push_back((*n)["ns"].get<double>());
    }
    // Every timed packet left labelled: counted under the app in app_stats.
    uint64_t labelled = 0;
    if (auto apps = (*with)->OpenMap("dpi", "app_stats"); apps.ok()) {
      std::vector<dpi_app_counters> per_cpu(libbpf_num_possible_cpus());
      uint32_t slot = v.app;
      if (bpf_map_lookup_elem(apps->get(), &slot, per_cpu.data()) == 0)
        for (const auto& pc : per_cpu) labelled += pc.packets;
    }
    c["without_dpi_ns"] = Median(without_ns);
    c["with_dpi_ns"] = Median(with_ns);
    c["with_noop_ns"] = Median(noop_ns);
    c["dpi_ns"] = Median(with_ns) - Median(without_ns);
    c["dpi_beyond_noop_ns"] = Median(with_ns) - Median(noop_ns);
    c["goal_ns"] = 30;
    c["labelled_packets"] = labelled;
    c["estimate_ns"] = c["dpi_ns"];
    c["estimate_method"] = "repeat";
    Add(c);
  }

  // The classifier alone (daemon/dpi/classifier.h, nDPI 4.2), in this
  // process: flows fed as the ring buffer carries them. Three mixes: HTTP
  // requests (named on their first packet), DNS queries (same), and flows of
  // random bytes (8 packets of 1000 bytes each, then given up: the worst case).
  void DpiClassifierThroughput() {
    struct Mix {
      const char* name;
      int packets_per_flow;
    };
    const size_t flows = o_.quick ? 2000 : 50000;
    for (const Mix& mix : {Mix{"http", 1}, Mix{"dns", 1}, Mix{"unknown", 8}}) {
      json c = {{"name", std::string("dpi_classifier_") + mix.name},
                {"what", std::string("nDPI classifier, ") + mix.name + " flows"},
                {"flows", flows}};
      std::vector<Bytes> ips;
      std::vector<dpi_event> evs;
      Bytes noise(1000);
      uint32_t x = 2463534242u;
      for (auto& b : noise) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b = static_cast<uint8_t>(x);
      }
      const std::string req = "GET / HTTP/1.1\r\nHost: www.example.test\r\nAccept: */*\r\n\r\n";
      Bytes dns = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0,   0,   0,   0,   0,   0,
                   3,    'w',  'w',  'w',  7,    'e',  'x', 'a', 'm', 'p', 'l', 'e',
                   4,    't',  'e',  's',  't',  0,    0,   1,   0,   1};
      // One template frame per mix; keys differ per flow by source port and address.
      PacketBuilder b;
      b.Eth(kClientMac, kVmMac).Ipv4("198.18.0.1", "198.19.0.1");
      if (std::string(mix.name) == "http")
        b.Tcp(10000, 80, sfc::test::kTcpAck | sfc::test::kTcpPsh)
            .Payload(Bytes(req.begin(), req.end()));
      else if (std::string(mix.name) == "dns")
        b.Udp(10000, 53).Payload(dns);
      else
        b.Tcp(10000, 40123, sfc::test::kTcpAck).Payload(noise);
      const Bytes frame = b.Build();
      const Bytes ip(frame.begin() + 14, frame.end());
      dpi::Classifier cls({8, 8192});
      std::vector<std::pair<dpi_flow_key, dpi::Verdict>> evicted;
      uint64_t bytes = 0, named = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (size_t f = 0; f < flows; ++f) {
        dpi_event ev{};
        ev.key.family = 4;
        ev.key.proto = ip[9];
        ev.key.addr_lo[0] = htonl((198u << 24 | 18u << 16) + static_cast<uint32_t>(f / 50000));
        ev.key.addr_hi[0] = htonl(198u << 24 | 19u << 16 | 1);
        ev.key.port_lo = htons(static_cast<uint16_t>(10000 + f % 50000));
        ev.key.port_hi = htons(80);
        ev.ip_len = ev.cap_len = static_cast<uint16_t>(ip.size());
        for (int p = 1; p <= mix.packets_per_flow; ++p) {
          ev.seq = static_cast<uint8_t>(p);
          ev.ts_ns = f * 1000 + p;
          auto v = cls.Feed(ev, ip.data(), &evicted);
          bytes += ip.size();
          if (v && v->state == DPI_CLASSIFIED) ++named;
        }
      }
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      c["seconds"] = secs;
      c["flows_per_s"] = flows / secs;
      c["packets_per_s"] = flows * mix.packets_per_flow / secs;
      c["mbit_per_s"] = bytes * 8 / secs / 1e6;
      c["classified"] = named;
      c["given_up"] = cls.counters().given_up;
      Add(c);
    }
  }
#endif

  void FlowTableScaling() {
    const json* fm = VnfOfType("flowmon");
    std::vector<size_t> counts =
        o_.quick ? std::vector<size_t>{1000, 100000} : std::vector<size_t>{1000, 1000000};
    for (size_t n : counts) {
      json c = {{"name", "efm_flows_" + std::to_string(n)},
                {"what", "flowmon alone, " + std::to_string(n) + " flows in the table"},
                {"flows", n}};
      if (!fm) {
        c["error"] = "the chain file has no flowmon VNF";
        Add(c);
        continue;
      }
      json v = *fm;
      v["config"]["max_flows"] = n + n / 2;
      double load_s = 0;
      auto chain = Load(Spec("bm-efm-" + std::to_string(n), json::array({v})), &load_s);
      if (!chain.ok()) {
        c["error"] = chain.status().ToString();
        Add(c);
        continue;
      }
      int fd = (*chain)->entry_fd();
      auto t0 = std::chrono::steady_clock::now();
      bool failed = false;
      for (size_t i = 0; i < n && !failed; ++i)
        failed = !sfc::test::RunXdp(fd, FlowFrame(i), 1, 1).ok();
      c["populate_s"] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (failed) {
        c["error"] = "BPF_PROG_TEST_RUN failed while filling the flow table";
        Add(c);
        continue;
      }
      size_t k = std::min(n, z_.distinct_flows);
      std::vector<Bytes> frames;
      for (size_t j = 0; j < k; ++j) frames.push_back(FlowFrame(j * (n / k)));
      c["single"] = Or(TimeSingle(fd, frames, k));
      c["reference"] = Reference(frames, k);
      c["single_corrected"] = Corrected(c["single"], c["reference"]);
      auto occupied = (*chain)->VnfCounter(v["name"], "rx_packets");
      if (occupied.ok()) c["rx_packets"] = *occupied;
      c["load_s"] = load_s;
      Estimate(c);
      Add(c);
    }
  }

  // eLB alone: SYNs of distinct connections (each a Maglev lookup and a
  // connection-table insert), then the same connections again (lookup hit).
  // Both rewrite the frame, so both are walks timed single and corrected;
  // the empty chain walked over the same frames gives eLB's own share.
  void LoadBalancerNewVsEstablished() {
    const json* lb = VnfOfType("loadbalancer");
    json cn = {{"name", "elb_new"},
               {"what", "loadbalancer alone, first packet of each connection"}};
    json ce = {{"name", "elb_established"},
               {"what", "loadbalancer alone, packets of known connections"}};
    auto fail = [&](const std::string& why) {
      cn["error"] = ce["error"] = why;
      Add(cn);
      Add(ce);
    };
    if (!lb) return fail("the chain file has no loadbalancer VNF");
    json v = *lb;
    size_t k = z_.distinct_flows;
    v["config"]["max_connections"] = std::max<size_t>(4 * k, 65536);
    double load_s = 0, empty_load_s = 0;
    auto chain = Load(Spec("bm-elb", json::array({v})), &load_s);
    if (!chain.ok()) return fail(chain.status().ToString());
    auto empty = Load(Spec("bm-elb-empty", json::array()), &empty_load_s);
    if (!empty.ok()) return fail(empty.status().ToString());
    std::vector<Bytes> syn, ack;
    for (size_t i = 0; i < k; ++i) {
      syn.push_back(FlowFrame(i, sfc::test::kTcpSyn));
      ack.push_back(FlowFrame(i, sfc::test::kTcpAck));
    }
    std::vector<int> actions;
    cn["single"] = Or(TimeSingle((*chain)->entry_fd(), syn, k, &actions));
    cn["action"] = actions.empty() ? "?" : sfc::test::XdpActionName(actions.back());
    ce["single"] = Or(TimeSingle((*chain)->entry_fd(), ack, k));
    json ref = Reference(syn, k);
    json entry = Or(TimeSingle((*empty)->entry_fd(), ack, k));
    for (json* c : {&cn, &ce}) {
      (*c)["reference"] = ref;
      (*c)["entry_only_single"] = entry;
      (*c)["single_corrected"] = Corrected((*c)["single"], ref);
      if ((*c)["single"].contains("tmean") && entry.contains("tmean"))
        (*c)["over_entry_ns"] =
            (*c)["single"]["tmean"].get<double>() - entry["tmean"].get<double>();
      (*c)["load_s"] = load_s;
      Estimate(*c);
    }
    Add(cn);
    Add(ce);
  }

  const MicroOptions& o_;
  json base_;
  Sizes z_;
  std::string net_, vip_;
  int pass_fd_ = -1, parse_fd_ = -1;
  double parse_single_ = 0, parse_repeat_ = 0;
  json cases_ = json::array();
};

}  // namespace

Result<nlohmann::json> RunMicro(const MicroOptions& o) {
  std::ifstream in(o.chain_file);
  if (!in) return NotFound("cannot read chain file " + o.chain_file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::string from = "10.NET.", to = "10." + std::to_string(o.net) + ".";
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())
    text.replace(pos, from.size(), to);
  json base = json::parse(text, nullptr, false);
  if (base.is_discarded() || !base.is_object())
    return InvalidArgument(o.chain_file + ": not a JSON object");
  if (!base.contains("vnfs") || !base["vnfs"].is_array())
    return InvalidArgument(o.chain_file + "/vnfs: array required");
  // One CPU for every run: per-CPU state (LRU free lists, the chain's packet
  // context) stays where the priming runs left it, and no migration lands
  // in a timing.
  SFC_RETURN_IF_ERROR(PinThreadToCpu(o.cpu));
  return Micro(o, std::move(base)).Run();
}

}  // namespace sfc::bench
