// elb-bench: per-packet cost of the loadbalancer VNF, measured through a
// whole loaded chain (entry -> VNF -> egress "pass") with BPF_PROG_TEST_RUN
// and its `repeat`, so the numbers include the parse, the tail calls and
// the egress stage exactly as on an interface. A chain with the noop VNF in
// the same place gives the baseline; the difference is eLB's own cost.
//
//   elb-bench [--repeat N] [--json]
//
// Cases: traffic that matches no service; a packet of a known connection
// (DNAT, both directions; DSR); new connections (Maglev pick + connection
// table insert) against known ones; 1000 services; 1M connections already
// in the table.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

json Services(int n, const std::string& mode = "dnat", uint32_t max_conns = 1 << 20) {
  json services = json::array();
  for (int i = 0; i < n; i++) {
    json backends = json::array();
    for (int b = 0; b < 8; b++) {
      json be = {{"address", "10.1." + std::to_string(i % 250) + "." + std::to_string(b + 1)}};
      if (mode == "dsr") be["mac"] = "02:00:00:00:01:0" + std::to_string(b);
      else be["port"] = 8080;
      backends.push_back(be);
    }
    services.push_back({{"name", "s" + std::to_string(i)},
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
// traffic would, so the lookups below run against a table that size.
void Prefill(LoadedChain& c, uint32_t n) {
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
    if (a == "--json") as_json = true;
    else if (a == "--repeat" && i + 1 < argc) repeat = std::stoul(argv[++i]);
    else {
      std::fprintf(stderr, "usage: elb-bench [--repeat N] [--json]\n");
      return 2;
    }
  }
  std::vector<Result_> results;
  auto add = [&](const std::string& name, double ns) { results.push_back({name, ns}); };

  const Bytes to_vip = Tcp("192.0.2.1", "10.0.0.1", 40000, 80, 0x10);
  const Bytes other = Tcp("192.0.2.1", "10.9.9.9", 40000, 80, 0x10);
  {
    auto c = Load("noop", json::object());
    add("baseline: noop VNF in the same chain", Measure(*c, to_vip, repeat));
  }
  {
    auto c = Load("loadbalancer", Services(1));
    add("no service matches (passes untouched)", Measure(*c, other, repeat));
    // The first run creates the connection; `repeat` then measures a known one.
    add("known connection, DNAT", Measure(*c, to_vip, repeat));
    auto fwd = c->Run(to_vip);
    Bytes reply = Tcp(/*backend*/ "0.0.0.0", "192.0.2.1", 8080, 40000, 0x10);
    if (fwd.ok()) {
      // The reply comes from the backend the connection got.
      char buf[INET_ADDRSTRLEN];
      auto fi = sfc::test::CheckFrame(fwd->out);
      reply = Tcp(inet_ntop(AF_INET, &fwd->out[fi.l3_off + 16], buf, sizeof(buf)), "192.0.2.1",
                  8080, 40000, 0x10);
    }
    add("reply of a known connection, reverse NAT", Measure(*c, reply, repeat));
  }
  {
    // A new connection per packet cannot be repeated in place (the first run
    // creates it), so both cases here are averaged over single runs of 4000
    // different flows, which includes the per-run overhead of the test run.
    auto c = Load("loadbalancer", Services(1));
    const int kFlows = 4000;
    auto flow = [](int i) {
      return Tcp("192.0.2." + std::to_string(1 + i % 250), "10.0.0.1",
                 static_cast<uint16_t>(20000 + i), 80, 0x02);
    };
    double fresh = 0, known = 0;
    for (int i = 0; i < kFlows; i++) fresh += Measure(*c, flow(i), 1);
    for (int i = 0; i < kFlows; i++) known += Measure(*c, flow(i), 1);
    add("new connection (Maglev pick + insert), single runs", fresh / kFlows);
    add("known connection, same flows, single runs", known / kFlows);
  }
  {
    auto c = Load("loadbalancer", Services(1000));
    add("known connection, 1000 services", Measure(*c, to_vip, repeat));
  }
  {
    auto c = Load("loadbalancer", Services(1));
    Prefill(*c, 1000000);
    add("known connection, 1M connections in the table", Measure(*c, to_vip, repeat));
  }
  {
    auto c = Load("loadbalancer", Services(1, "dsr"));
    add("known connection, DSR (XDP_TX)", Measure(*c, to_vip, repeat));
    add("no service matches, only DSR services", Measure(*c, other, repeat));
  }
  {
    json cfg = Services(1, "dsr");
    cfg["services"][0]["dsr_tx"] = false;
    auto c = Load("loadbalancer", cfg);
    add("known connection, DSR (to the egress stage)", Measure(*c, to_vip, repeat));
  }

  double base = results.front().ns;
  if (as_json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : results)
      out.push_back({{"case", r.name}, {"ns_per_packet", r.ns}, {"over_baseline_ns", r.ns - base}});
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-55s %10s %14s\n", "case", "ns/packet", "vs baseline");
  for (const auto& r : results)
    std::printf("%-55s %10.1f %+14.1f\n", r.name.c_str(), r.ns, r.ns - base);
  return 0;
}
