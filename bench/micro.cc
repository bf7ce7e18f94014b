#include "micro.h"

#include <arpa/inet.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>

#include "bench_prog.h"
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
  size_t distinct_flows;  // frames walked for flow-table and connection timings
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
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

// One run per call over `frames` (cycled up to `runs` calls); median and p90.
Result<json> TimeSingle(int fd, const std::vector<Bytes>& frames, size_t runs, std::vector<int>* actions = nullptr) {
  std::vector<double> ns;
  ns.reserve(runs);
  for (size_t i = 0; i < runs; ++i) {
    SFC_ASSIGN_OR_RETURN(auto run, sfc::test::RunXdp(fd, frames[i % frames.size()], 1, 1));
    ns.push_back(run.duration_ns);
    if (actions) actions->push_back(run.action);
  }
  double mean = 0;
  for (double v : ns) mean += v / ns.size();
  // The kernel's clock steps in ~10 ns here: the mean resolves finer than the median.
  return json{{"ns", Median(ns)}, {"mean", mean}, {"p10", Percentile(ns, 0.1)}, {"p90", Percentile(ns, 0.9)},
              {"calls", runs}};
}

// Distinct flows from 198.18.0.0/15 (RFC 2544's benchmarking range).
std::string FlowSrc(size_t i) {
  in_addr a{htonl((198u << 24 | 18u << 16) + static_cast<uint32_t>(i / 50000) + 1)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}
uint16_t FlowPort(size_t i) { return static_cast<uint16_t>(10000 + i % 50000); }

class Micro {
 public:
  Micro(const MicroOptions& o, json base) : o_(o), base_(std::move(base)) {
    z_ = o.quick ? Sizes{2000, 20000, 3, 2000} : Sizes{20000, 200000, 5, 20000};
    net_ = "10." + std::to_string(o.net) + ".";
    vip_ = FindVip();
  }

  json Run() {
    auto bare = LoadBenchProgs({});
    if (!bare.ok()) {
      Add({{"name", "xdp_pass"}, {"error", bare.status().ToString()}});
      return Finish();
    }
    bare_fd_ = bpf_program__fd((*bare)->progs.bench_pass);
    Bytes udp = UdpToVip();
    {
      json c = {{"name", "xdp_pass"}, {"what", "bare XDP_PASS program"}};
      c["single"] = Or(TimeSingle(bare_fd_, {udp}, z_.single_runs));
      c["repeat"] = Or(TimeRepeat(bare_fd_, udp, z_));
      Add(c);
    }
    ChainCase("entry_only", "chain entry (parse) + egress pass, no VNF", json::array(), true);
    for (const auto& v : base_["vnfs"])
      ChainCase("vnf_" + v["type"].get<std::string>(), "entry + " + v["name"].get<std::string>() + " alone + egress",
                json::array({v}), !Rewrites(v));
    ChainCase("full_chain", "entry + every VNF of the chain file + egress pass", base_["vnfs"], false);
    FullChainSplit();
    FirewallScaling();
    FlowTableScaling();
    LoadBalancerNewVsEstablished();
    return Finish();
  }

 private:
  json Finish() {
    return json{{"cases", cases_},
                {"options", {{"chain_file", o_.chain_file}, {"quick", o_.quick}, {"single_runs", z_.single_runs},
                             {"repeat", z_.repeat}, {"repeat_samples", z_.repeat_samples},
                             {"distinct_flows", z_.distinct_flows}}}};
  }

  static json Or(const Result<json>& r) { return r.ok() ? r.value() : json{{"error", r.status().ToString()}}; }
  void Add(json c) {
    fprintf(stderr, "micro: %s\n", c.dump().c_str());
    cases_.push_back(std::move(c));
  }

  // The load balancer rewrites frames it forwards; repeat timings would then
  // run later iterations on the rewritten frame.
  static bool Rewrites(const json& vnf) { return vnf.value("type", "") == "loadbalancer"; }

  std::string FindVip() const {
    for (const auto& v : base_["vnfs"])
      if (v.value("type", "") == "loadbalancer")
        for (const auto& s : v["config"]["services"])
          if (s.value("proto", "tcp") == "udp") return s["vip"];
    return net_ + "100.1";
  }
  uint16_t UdpServicePort() const {
    for (const auto& v : base_["vnfs"])
      if (v.value("type", "") == "loadbalancer")
        for (const auto& s : v["config"]["services"])
          if (s.value("proto", "tcp") == "udp") return s.value("port", 9);
    return 9;
  }
  uint16_t TcpServicePort() const {
    for (const auto& v : base_["vnfs"])
      if (v.value("type", "") == "loadbalancer")
        for (const auto& s : v["config"]["services"])
          if (s.value("proto", "tcp") == "tcp") return s.value("port", 80);
    return 80;
  }

  Bytes UdpToVip() const {
    return PacketBuilder().Eth(kClientMac, kVmMac).Ipv4(net_ + "1.2", vip_).Udp(40000, UdpServicePort()).Payload(22).Build();
  }
  Bytes FlowFrame(size_t i, uint8_t tcp_flags = 0) const {
    PacketBuilder b;
    b.Eth(kClientMac, kVmMac).Ipv4(FlowSrc(i), vip_);
    if (tcp_flags) b.Tcp(FlowPort(i), TcpServicePort(), tcp_flags, 1000, tcp_flags & sfc::test::kTcpAck ? 1 : 0);
    else b.Udp(FlowPort(i), UdpServicePort());
    return b.Payload(tcp_flags ? 10 : 22).Build();
  }

  json Spec(const std::string& name, const json& vnfs, bool timing = false) const {
    return json{{"name", name}, {"interfaces", json::array({"lo"})}, {"vnfs", vnfs},
                {"egress", {{"action", "pass"}}}, {"timing", timing}};
  }

  // Loads a chain, timing the load (rule compilation, map fills) too.
  Result<std::unique_ptr<LoadedChain>> Load(const json& spec, double* load_s) {
    auto t0 = std::chrono::steady_clock::now();
    auto chain = LoadedChain::Load(spec.dump());
    *load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return chain;
  }

  void ChainCase(const std::string& name, const std::string& what, const json& vnfs, bool repeat_ok) {
    json c = {{"name", name}, {"what", what}};
    double load_s = 0;
    auto chain = Load(Spec("bm-" + name, vnfs), &load_s);
    if (!chain.ok()) {
      c["error"] = chain.status().ToString();
      return Add(c);
    }
    Bytes udp = UdpToVip();
    std::vector<int> actions;
    c["single"] = Or(TimeSingle((*chain)->entry_fd(), {udp}, z_.single_runs, &actions));
    if (repeat_ok) c["repeat"] = Or(TimeRepeat((*chain)->entry_fd(), udp, z_));
    c["action"] = actions.empty() ? "?" : sfc::test::XdpActionName(actions.back());
    c["load_s"] = load_s;
    Add(c);
  }

  // The full chain with the engine's per-VNF timing on: where the time goes.
  void FullChainSplit() {
    json c = {{"name", "full_chain_split"}, {"what", "full chain with \"timing\": run_ns per VNF / rx_packets"}};
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
      if (ns.ok() && pk.ok() && *pk > 0) per_vnf[n] = {{"type", v["type"]}, {"ns", double(*ns) / *pk}, {"packets", *pk}};
      else per_vnf[n] = {{"error", !ns.ok() ? ns.status().ToString() : pk.status().ToString()}};
    }
    c["per_vnf"] = per_vnf;
    Add(c);
  }

  const json* VnfOfType(const std::string& type) const {
    for (const auto& v : base_["vnfs"])
      if (v.value("type", "") == type) return &v;
    return nullptr;
  }

  // eFW with `n` rules: n - |base rules| blocklist entries (distinct /32
  // sources in 100.64.0.0/10, UDP port 7, drop) ahead of the chain file's
  // rules, so the benchmark frame is tested against all of them.
  void FirewallScaling() {
    const json* fw = VnfOfType("firewall");
    std::vector<size_t> counts = o_.quick ? std::vector<size_t>{10, 1000} : std::vector<size_t>{10, 1000, 100000, 1000000};
    for (size_t n : counts) {
      json c = {{"name", "efw_rules_" + std::to_string(n)}, {"what", "firewall alone, " + std::to_string(n) + " rules"},
                {"rules", n}};
      if (!fw) {
        c["error"] = "the chain file has no firewall VNF";
        Add(c);
        continue;
      }
      json v = *fw;
      json base_rules = v["config"].value("rules", json::array());
      json rules = json::array();
      for (size_t j = 0; j + base_rules.size() < n; ++j) {
        in_addr a{htonl((100u << 24 | 64u << 16) + static_cast<uint32_t>(j) + 1)};
        char buf[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a, buf, sizeof(buf));
        rules.push_back({{"id", "block-" + std::to_string(j)}, {"src", buf}, {"proto", "udp"}, {"dport", 7}, {"action", "drop"}});
      }
      for (const auto& r : base_rules) rules.push_back(r);
      v["config"]["rules"] = rules;
      v["config"]["max_rules"] = std::max<size_t>(rules.size(), 1024);
      double load_s = 0;
      auto chain = Load(Spec("bm-efw-" + std::to_string(n), json::array({v})), &load_s);
      if (!chain.ok()) {
        c["error"] = chain.status().ToString();
        Add(c);
        continue;
      }
      Bytes udp = UdpToVip();
      std::vector<int> actions;
      c["single"] = Or(TimeSingle((*chain)->entry_fd(), {udp}, z_.single_runs, &actions));
      c["repeat"] = Or(TimeRepeat((*chain)->entry_fd(), udp, z_));
      c["action"] = actions.empty() ? "?" : sfc::test::XdpActionName(actions.back());
      c["load_s"] = load_s;
      Add(c);
    }
  }

  // eFM with `n` flows in its table, then a walk over up to distinct_flows of
  // them (cache-cold when the table is large), against XDP_PASS walked alike.
  void FlowTableScaling() {
    const json* fm = VnfOfType("flowmon");
    std::vector<size_t> counts = o_.quick ? std::vector<size_t>{1000, 100000} : std::vector<size_t>{1000, 1000000};
    for (size_t n : counts) {
      json c = {{"name", "efm_flows_" + std::to_string(n)}, {"what", "flowmon alone, " + std::to_string(n) + " flows in the table"},
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
      for (size_t i = 0; i < n && !failed; ++i) failed = !sfc::test::RunXdp(fd, FlowFrame(i), 1, 1).ok();
      c["populate_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (failed) {
        c["error"] = "BPF_PROG_TEST_RUN failed while filling the flow table";
        Add(c);
        continue;
      }
      size_t k = std::min(n, z_.distinct_flows);
      std::vector<Bytes> frames;
      for (size_t j = 0; j < k; ++j) frames.push_back(FlowFrame(j * (n / k)));
      c["single"] = Or(TimeSingle(fd, frames, k));
      c["xdp_pass_single"] = Or(TimeSingle(bare_fd_, frames, k));
      auto occupied = (*chain)->VnfCounter(v["name"], "rx_packets");
      if (occupied.ok()) c["rx_packets"] = *occupied;
      c["load_s"] = load_s;
      Add(c);
    }
  }

  // eLB alone: SYNs of distinct connections (each a Maglev lookup and a
  // connection-table insert), then the same connections again (lookup hit).
  void LoadBalancerNewVsEstablished() {
    const json* lb = VnfOfType("loadbalancer");
    json cn = {{"name", "elb_new"}, {"what", "loadbalancer alone, first packet of each connection"}};
    json ce = {{"name", "elb_established"}, {"what", "loadbalancer alone, packets of known connections"}};
    if (!lb) {
      cn["error"] = ce["error"] = "the chain file has no loadbalancer VNF";
      Add(cn);
      return Add(ce);
    }
    json v = *lb;
    size_t k = z_.distinct_flows;
    v["config"]["max_connections"] = std::max<size_t>(4 * k, 65536);
    double load_s = 0;
    auto chain = Load(Spec("bm-elb", json::array({v})), &load_s);
    if (!chain.ok()) {
      cn["error"] = ce["error"] = chain.status().ToString();
      Add(cn);
      return Add(ce);
    }
    std::vector<Bytes> syn, ack;
    for (size_t i = 0; i < k; ++i) {
      syn.push_back(FlowFrame(i, sfc::test::kTcpSyn));
      ack.push_back(FlowFrame(i, sfc::test::kTcpAck));
    }
    std::vector<int> actions;
    cn["single"] = Or(TimeSingle((*chain)->entry_fd(), syn, k, &actions));
    cn["action"] = actions.empty() ? "?" : sfc::test::XdpActionName(actions.back());
    ce["single"] = Or(TimeSingle((*chain)->entry_fd(), ack, k));
    cn["xdp_pass_single"] = ce["xdp_pass_single"] = Or(TimeSingle(bare_fd_, syn, k));
    cn["load_s"] = load_s;
    Add(cn);
    Add(ce);
  }

  const MicroOptions& o_;
  json base_;
  Sizes z_;
  std::string net_, vip_;
  int bare_fd_ = -1;
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
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) text.replace(pos, from.size(), to);
  json base = json::parse(text, nullptr, false);
  if (base.is_discarded() || !base.is_object()) return InvalidArgument(o.chain_file + ": not a JSON object");
  if (!base.contains("vnfs") || !base["vnfs"].is_array()) return InvalidArgument(o.chain_file + "/vnfs: array required");
  return Micro(o, std::move(base)).Run();
}

}  // namespace sfc::bench
