// sfcctl trace as a user runs it: real sfcd, a live firewall + flowmon +
// load balancer chain that has carried real traffic, crafted packets traced
// through it. Each hop's verdict and reason, the table entries the packet
// would create, the frame as the chain leaves it (DNAT, fib MACs) and the
// egress result; and every live map, read with bpftool, byte-for-byte as it
// was before the traces.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;

constexpr int kHttpPort = 8080;

class TraceE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
    json rules =
        json::array({{{"id", "no-mdns"}, {"proto", "udp"}, {"dport", 5353}, {"action", "drop"}}});
    json backends = json::array();
    for (int i = 1; i <= 2; i++)
      backends.push_back({{"address", topo_.server_ip(i)}, {"port", kHttpPort}});
    json svc = {{"name", "web"},  {"vip", Vip()},      {"proto", "tcp"},      {"port", 80},
                {"mode", "dnat"}, {"table_size", 251}, {"backends", backends}};
    json spec = {
        {"name", "tr"},
        {"interfaces", json::array({{{"name", "eth0"}}, {{"name", "eth1"}}, {{"name", "eth2"}}})},
        {"vnfs", json::array({{{"name", "fw"},
                               {"type", "firewall"},
                               {"config", {{"default", "allow"}, {"rules", rules}}}},
                              // Flows neither expire nor get exported during the test:
                              // the live flow table changes only with traffic.
                              {{"name", "fm"},
                               {"type", "flowmon"},
                               {"config",
                                {{"idle_timeout_s", 3600},
                                 {"active_timeout_s", 7200},
                                 {"scan_interval_ms", 60000}}}},
                              {{"name", "lb"},
                               {"type", "loadbalancer"},
                               {"config", {{"max_connections", 65536}, {"services", {svc}}}}}})},
        {"egress", {{"action", "fib"}}}};
    // Neighbours resolved before the chain exists, so fib redirects (a few
    // tries: IPv6 on new veths can take a moment).
    for (int i = 1; i <= 2; i++)
      for (const std::string& ping :
           {"ping -c 1 -W 2 " + topo_.server_ip(i), "ping -6 -c 1 -W 2 " + topo_.server_ip6(i)})
        ASSERT_EQ(topo_
                      .In(topo_.client_ns(),
                          "for t in 1 2 3 4 5; do " + ping + " && exit 0; sleep 1; done; exit 1")
                      .exit_code,
                  0)
            << ping;
    auto r = sfcd_.Apply(spec.dump());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Real traffic through the chain: live conntrack, flows and counters.
    ASSERT_EQ(topo_.In(topo_.client_ns(), "ping -c 2 -i 0.2 -W 2 " + topo_.server_ip(1)).exit_code,
              0);
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
  }

  std::string Vip() const { return "10." + std::to_string(topo_.net()) + ".100.100"; }
  std::string ClientIp6() const { return "fd00:" + std::to_string(topo_.net()) + ":1::2"; }

  json Trace(const std::string& packet) {
    auto r = sfcd_.Ctl("-o json trace tr '" + packet + "'");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    json j = json::parse(r.output, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.output;
    return j.is_discarded() ? json::object() : j;
  }

  // The hop of `vnf` in a trace reply; an empty object if it has none.
  static json Hop(const json& reply, const std::string& vnf) {
    for (const auto& h : reply.value("hops", json::array()))
      if (h["event"].value("vnf", "") == vnf) return h;
    return json::object();
  }

  // Every map of the chain the data plane writes, as bpftool dumps it:
  // counters (chain, VNFs, rules, backends, latency, monitor), connection
  // tracking, flows, the load balancer's connections and reverse NAT, and
  // the per-CPU packet context (any packet through the live chain changes
  // it). Tables only the daemon writes (rules, services, Maglev) are left
  // out: dumping the firewall's 8 MB of port tables takes long.
  std::map<std::string, std::string> LiveMaps() const {
    static const std::set<std::string> kWritten = {
        "stats",      "pktctx",      "latency",      "monitor_stats", "conntrack",
        "ct_live",    "scratch",     "rule_stats",   "flows",         "exported",
        "frag_ports", "reverse_nat", "backend_stats"};
    std::map<std::string, std::string> out;
    auto files = topo_.InVm("find " + sfcd_.root() + "/tr -type f");
    std::istringstream in(files.output);
    std::string path;
    while (std::getline(in, path)) {
      if (!kWritten.count(path.substr(path.rfind('/') + 1))) continue;
      auto r = topo_.InVm("bpftool -j map dump pinned " + path);
      out[path] = r.output;
    }
    return out;
  }

  // Waits (up to a minute) until no packet has crossed the live chain for 3 s:
  // the namespaces' router solicitations and neighbour probes die down.
  void WaitQuiet() const {
    std::string last;
    for (int i = 0; i < 20; ++i) {
      auto now = topo_.InVm("bpftool -j map dump pinned " + sfcd_.root() + "/tr/stats").output;
      if (now == last) return;
      last = now;
      std::this_thread::sleep_for(std::chrono::seconds(3));
    }
  }

  Topology topo_{2};
  Sfcd sfcd_{topo_};
};

TEST_F(TraceE2E, FirewallDropNamesTheRuleAndTheChainStopsThere) {
  json r = Trace("udp " + topo_.client_ip() + ":40053 > " + topo_.server_ip(1) + ":5353");
  EXPECT_EQ(r.value("result", ""), "drop") << r.dump(1);
  EXPECT_EQ(r.value("interface", ""), "eth0");
  json fw = Hop(r, "fw");
  EXPECT_EQ(fw["event"].value("verdict", ""), "drop") << r.dump(1);
  EXPECT_EQ(fw["event"].value("reason", ""), "fw_rule");
  EXPECT_EQ(fw["event"].value("rule_id", ""), "no-mdns");
  EXPECT_TRUE(Hop(r, "lb").empty()) << "a dropped packet reached the load balancer";
  EXPECT_TRUE(Hop(r, "egress").empty());
}

TEST_F(TraceE2E, AcceptedPacketIsLoadBalancedAndRouted) {
  json r = Trace("tcp " + topo_.client_ip() + ":41000 > " + Vip() + ":80 flags S iif eth0");
  ASSERT_EQ(r.value("result", ""), "redirect") << r.dump(1);
  json fw = Hop(r, "fw"), fm = Hop(r, "fm"), lb = Hop(r, "lb"), eg = Hop(r, "egress");
  EXPECT_EQ(fw["event"].value("verdict", ""), "next") << r.dump(1);
  EXPECT_EQ(fw["event"].value("reason", ""), "fw_default");
  EXPECT_EQ(fw["event"].value("detail", 99), 0);  // connection state: new
  EXPECT_EQ(fm["event"].value("verdict", ""), "next");
  EXPECT_EQ(lb["event"].value("verdict", ""), "next");
  EXPECT_EQ(eg["event"].value("verdict", ""), "redirect");
  // The tables the packet would have written: a conntrack entry, a flow and
  // the load balancer's connection.
  for (const auto& hop : {fw, fm, lb}) {
    bool created = false;
    for (const auto& s : hop.value("state", json::array())) created |= s.value("created", false);
    EXPECT_TRUE(created) << "no new table entry at " << hop.dump(1);
  }
  // DNAT to one of the backends, routed out of its port with its MAC.
  const std::string out = r.value("frame_out_text", "");
  const bool to1 = out.find(" > " + topo_.server_ip(1) + ":8080 tcp flags S") != std::string::npos;
  const bool to2 = out.find(" > " + topo_.server_ip(2) + ":8080 tcp flags S") != std::string::npos;
  EXPECT_TRUE(to1 || to2) << out;
  EXPECT_EQ(r.value("egress_interface", ""), to1 ? "eth1" : "eth2") << r.dump(1);
  EXPECT_NE(out.find("ttl 63"), std::string::npos) << out;
  EXPECT_NE(r.value("frame_in_text", ""), out);
}

TEST_F(TraceE2E, Ipv6AndVlanAndIcmp) {
  json v6 = Trace("tcp [" + ClientIp6() + "]:41001 > [" + topo_.server_ip6(1) + "]:8080");
  EXPECT_EQ(v6.value("result", ""), "redirect") << v6.dump(1);
  EXPECT_EQ(v6.value("egress_interface", ""), "eth1");
  EXPECT_EQ(Hop(v6, "fw")["event"].value("src", ""), ClientIp6());
  EXPECT_NE(v6.value("frame_out_text", "").find("hlim 63"), std::string::npos) << v6.dump(1);

  // fib hands tagged frames to the kernel's VLAN devices.
  json vlan = Trace("udp " + topo_.client_ip() + ":40000 > " + topo_.server_ip(2) + ":53 vlan 100");
  EXPECT_EQ(vlan.value("result", ""), "pass") << vlan.dump(1);
  EXPECT_EQ(Hop(vlan, "egress")["event"].value("reason", ""), "vlan");
  EXPECT_EQ(Hop(vlan, "fw")["event"].value("vlan", 0), 100);
  EXPECT_NE(vlan.value("frame_in_text", "").find("vlan 100"), std::string::npos);

  json icmp = Trace("icmp " + topo_.client_ip() + " > " + topo_.server_ip(2) + " id 9");
  EXPECT_EQ(icmp.value("result", ""), "redirect") << icmp.dump(1);
  EXPECT_EQ(Hop(icmp, "fw")["event"].value("proto", ""), "icmp");
}

TEST_F(TraceE2E, LiveCountersAndTablesDoNotChange) {
  const std::vector<std::string> packets = {
      "udp " + topo_.client_ip() + ":40053 > " + topo_.server_ip(1) + ":5353",
      "tcp " + topo_.client_ip() + ":41000 > " + Vip() + ":80 flags S",
      "tcp [" + ClientIp6() + "]:41001 > [" + topo_.server_ip6(1) + "]:8080",
      "udp " + topo_.client_ip() + ":40000 > " + topo_.server_ip(2) + ":53 vlan 100"};
  // The namespaces' own IPv6 housekeeping (router solicitations for the
  // first seconds after link up) may cross the chain: an attempt with such a
  // packet is retried; a trace that writes live state changes the maps in
  // every attempt.
  std::string diff;
  for (int attempt = 0; attempt < 5; ++attempt) {
    WaitQuiet();
    auto before = LiveMaps();
    ASSERT_GE(before.size(), 15u);  // 4 chain maps, 5 firewall, 4 flowmon, 4 LB
    for (const auto& p : packets) Trace(p);
    auto after = LiveMaps();
    diff.clear();
    for (const auto& [path, dump] : before)
      if (after[path] != dump)
        diff += path + "\nbefore: " + dump.substr(0, 600) +
                "\nafter:  " + after[path].substr(0, 600) + "\n";
    if (diff.empty()) break;
  }
  EXPECT_EQ(diff, "") << "live maps changed by a trace";
  // The live flow and connection tables through the API, too.
  auto flows = sfcd_.Ctl("flows tr");
  EXPECT_EQ(flows.output.find("41000"), std::string::npos) << flows.output;
}

TEST_F(TraceE2E, TableShowsHopsStateAndResult) {
  auto r = sfcd_.Ctl("trace tr 'tcp " + topo_.client_ip() + ":41002 > " + Vip() +
                     ":80 flags S iif eth0'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::fprintf(stderr, "%s\n", r.output.c_str());
  EXPECT_NE(r.output.find("STAGE"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fw_default (new)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("+ conntrack"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("result redirect to eth"), std::string::npos) << r.output;
}

TEST_F(TraceE2E, BadPacketNamesTheWordAndUnknownChainFails) {
  auto r = sfcd_.Ctl("trace tr 'tcp 10.0.0.1 > 10.0.0.2:80'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("word 2 \"10.0.0.1\": needs a port"), std::string::npos) << r.output;
  r = sfcd_.Ctl("trace nosuch 'udp 10.0.0.1:1 > 10.0.0.2:2'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("nosuch"), std::string::npos) << r.output;
  r = sfcd_.Ctl("trace tr");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace sfc::test
