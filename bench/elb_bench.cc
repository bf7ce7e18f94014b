// elb-bench: per-packet cost of the loadbalancer VNF, measured through a
// whole loaded chain (entry -> VNF -> egress "pass") with BPF_PROG_TEST_RUN
// and its `repeat`, so the numbers include the parse, the tail calls and
// the egress stage exactly as on an interface. A chain with the noop VNF in
// the same place gives the baseline; the difference is eLB's own cost.
//
//   elb-bench [--repeat N] [--json]
//
// Every number is eLB's own cost: the chain's time minus that of the same
// chain with the noop VNF, measured the same way.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "elb/conn_sweep.h"
#include "elb/elb.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::bench {
namespace {

using nlohmann::json;
using test::Bytes;
using test::LoadedChain;
using test::PacketBuilder;

std::string Chain(const std::string& type, const json& config) {
  json spec = {{"name", "elbbench"},
               {"interfaces", {"lo"}},
               {"vnfs", {{{"name", "lb"}, {"type", type}, {"config", config}}}}};
  return spec.dump();
}

json Services(int n, const std::string& mode = "dnat", uint32_t max_conns = 1 << 20,
              int backends_per_service = 8) {
  json services = json::array();
  for (int i = 0; i < n; i++) {
    json backends = json::array();
    for (int b = 0; b < backends_per_service; b++) {
      // Up to 8 backends: 10.1.<service>.<b>; more (one service): 10.2.<b / 250>.<b % 250>.
      std::string addr =
          backends_per_service <= 8
              ? "10.1." + std::to_string(i % 250) + "." + std::to_string(b + 1)
              : "10.2." + std::to_string(b / 250) + "." + std::to_string(b % 250 + 1);
      json be = {{"address", addr}};
      if (mode == "dsr")
        be["mac"] = "02:00:00:00:01:0" + std::to_string(b);
      else
        be["port"] = 8080;
      backends.push_back(be);
    }
    services.push_back(
        {{"name", "s" + std::to_string(i)},
         {"vip", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)},
         {"port", mode == "dsr" ? 80 : 80 + i / 62500},
         {"mode", mode},
         {"backends", backends}});
  }
  return {{"max_connections", max_conns}, {"services", services}};
}

Bytes Tcp(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
          uint8_t flags) {
  return PacketBuilder()
      .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
      .Ipv4(src, dst)
      .Tcp(sport, dport, flags)
      .Payload(18)  // a 64-byte frame with the FCS
      .Build();
}

struct Result_ {
  std::string name;
  double ns;
};

double Measure(LoadedChain& c, const Bytes& frame, uint32_t repeat) {
  auto r = c.Run(frame, 1, repeat);
  if (!r.ok()) {
    std::fprintf(stderr, "elb-bench: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return r->duration_ns;
}

std::unique_ptr<LoadedChain> Load(const std::string& type, const json& config) {
  auto c = LoadedChain::Load(Chain(type, config));
  if (!c.ok()) {
    std::fprintf(stderr, "elb-bench: loading chain: %s\n", c.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

// Fills the connection table with `n` entries of other clients, as live
// traffic would, so the lookups below run against a table that size. Every
// `closed_every`th one (0: none) is a connection that closed long ago.
void Prefill(LoadedChain& c, uint32_t n, uint32_t closed_every = 0) {
  auto fd = c.OpenMap("lb", "conntrack");
  if (!fd.ok()) std::exit(1);
  elb_flow_key k{};
  elb_conn v{};
  k.daddr[0] = inet_addr("10.0.0.1");
  k.dport = htons(80);
  k.proto = IPPROTO_TCP;
  k.family = 4;
  for (uint32_t i = 0; i < n; i++) {
    k.saddr[0] = htonl(0xc6120000u + (i >> 16));  // 198.18.0.0/15
    k.sport = htons(static_cast<uint16_t>(i));
    v.state = closed_every && i % closed_every == 0 ? ELB_CONN_F_CLOSED : 0;
    bpf_map_update_elem(fd->get(), &k, &v, BPF_ANY);
  }
}

}  // namespace
}  // namespace sfc::bench

int main(int argc, char** argv) {
  using namespace sfc::bench;
  uint32_t repeat = 1000000;
  bool as_json = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--json")
      as_json = true;
    else if (a == "--repeat" && i + 1 < argc)
      repeat = std::stoul(argv[++i]);
    else {
      std::fprintf(stderr, "usage: elb-bench [--repeat N] [--json]\n");
      return 2;
    }
  }
  std::vector<Result_> results;
  auto add = [&](const std::string& name, double ns) { results.push_back({name, ns}); };

  const Bytes to_vip = Tcp("192.0.2.1", "10.0.0.1", 40000, 80, 0x10);
  const Bytes other = Tcp("192.0.2.1", "10.9.9.9", 40000, 80, 0x10);
  auto flow = [](int i, uint8_t flags) {
    return Tcp("192.0.2." + std::to_string(1 + i % 250), "10.0.0.1",
               static_cast<uint16_t>(20000 + i), 80, flags);
  };
  // `repeat` runs the program again on the frame it already rewrote, so it
  // only measures cases that leave the frame as they found it (no match,
  // DSR). DNAT and new connections are averaged over single runs of many
  // flows instead, against a baseline measured the same way; single runs
  // carry the syscall's own overhead, which the baseline cancels.
  constexpr int kFlows = 4000;
  auto single = [&](LoadedChain& c, auto make) {
    double total = 0;
    for (int i = 0; i < kFlows; i++) total += Measure(c, make(i), 1);
    return total / kFlows;
  };
  double base_repeat, base_single;
  {
    auto c = Load("noop", json::object());
    base_repeat = Measure(*c, to_vip, repeat);
    base_single = single(*c, [&](int i) { return flow(i, 0x10); });
  }
  {
    auto c = Load("loadbalancer", Services(1));
    add("repeat: no service matches (dnat services present)",
        Measure(*c, other, repeat) - base_repeat);
    add("single: new connection (Maglev pick + insert)",
        single(*c, [&](int i) { return flow(i, 0x02); }) - base_single);
    add("single: known connection, DNAT",
        single(*c, [&](int i) { return flow(i, 0x10); }) - base_single);
    // Replies of those connections, from the backend each one got.
    std::vector<Bytes> replies;
    for (int i = 0; i < kFlows; i++) {
      auto fwd = c->Run(flow(i, 0x10));
      if (!fwd.ok()) std::exit(1);
      auto fi = sfc::test::CheckFrame(fwd->out);
      char buf[INET_ADDRSTRLEN];
      replies.push_back(Tcp(inet_ntop(AF_INET, &fwd->out[fi.l3_off + 16], buf, sizeof(buf)),
                            "192.0.2." + std::to_string(1 + i % 250), 8080,
                            static_cast<uint16_t>(20000 + i), 0x10));
    }
    add("single: reply of a known connection, reverse NAT",
        single(*c, [&](int i) { return replies[i]; }) - base_single);
  }
  {
    auto c = Load("loadbalancer", Services(1000));
    (void)single(*c, [&](int i) { return flow(i, 0x02); });
    add("single: known connection, DNAT, 1000 services",
        single(*c, [&](int i) { return flow(i, 0x10); }) - base_single);
  }
  for (int backends : {10, 1000}) {
    auto c = Load("loadbalancer", Services(1, "dnat", 1 << 20, backends));
    const std::string n = std::to_string(backends);
    add("single: new connection, " + n + " backends",
        single(*c, [&](int i) { return flow(i, 0x02); }) - base_single);
    add("single: known connection, DNAT, " + n + " backends",
        single(*c, [&](int i) { return flow(i, 0x10); }) - base_single);
  }
  {
    auto c = Load("loadbalancer", Services(1));
    Prefill(*c, 1000000);
    (void)single(*c, [&](int i) { return flow(i, 0x02); });
    add("single: known connection, DNAT, 1M connections in the table",
        single(*c, [&](int i) { return flow(i, 0x10); }) - base_single);
  }
  // The sweep of closed connections (sfcd's eLB thread, every
  // tcp_close_timeout_s): one pass over a full table, 10% of it closed.
  double sweep_ms = 0;
  uint64_t swept = 0;
  {
    auto c = Load("loadbalancer", Services(1));
    Prefill(*c, 1000000, 10);
    std::string dir = c->PinPath("lb", "");
    dir.pop_back();  // PinPath(vnf, "") ends in '/'
    const auto t0 = std::chrono::steady_clock::now();
    auto r = sfc::elb::SweepClosedConnections(dir, UINT64_MAX / 2, 1);
    sweep_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) std::exit(1);
    swept = r->removed;
  }
  {
    auto c = Load("loadbalancer", Services(1, "dsr"));
    add("repeat: known connection, DSR (XDP_TX)", Measure(*c, to_vip, repeat) - base_repeat);
    add("repeat: no service matches (dsr services only)", Measure(*c, other, repeat) - base_repeat);
  }
  {
    auto c = Load("loadbalancer", json{{"services", json::array()}});
    add("repeat: no services at all", Measure(*c, other, repeat) - base_repeat);
  }

  if (as_json) {
    nlohmann::json out = {{"baseline_repeat_ns", base_repeat},
                          {"baseline_single_ns", base_single},
                          {"cases", nlohmann::json::array()},
                          {"sweep_1m_ms", sweep_ms},
                          {"sweep_removed", swept}};
    for (const auto& r : results) out["cases"].push_back({{"case", r.name}, {"elb_ns", r.ns}});
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("chain with the noop VNF: %.1f ns/packet (repeat), %.1f ns/run (single runs)\n",
              base_repeat, base_single);
  std::printf("%-62s %12s\n", "case", "eLB ns/pkt");
  for (const auto& r : results) std::printf("%-62s %12.1f\n", r.name.c_str(), r.ns);
  std::printf("sweep of closed connections, 1M entries (%llu closed removed): %.0f ms\n",
              static_cast<unsigned long long>(swept), sweep_ms);
  return 0;
}
