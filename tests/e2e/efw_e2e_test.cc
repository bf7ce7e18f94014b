// eFW as a user runs it: real sfcd and sfcctl, real traffic between
// namespaces (ping, curl, a UDP socket), conntrack letting replies back in,
// rejects the client's stack understands (RST: "connection refused"; ICMP
// admin-prohibited: "no route to host"), live rule edits with sfcctl fw, and
// bpftool reading the counters by name.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

class FirewallE2E : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sfcd_.Start()) << sfcd_.log(); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
  }

  std::string Spec() const {
    json rules = json::array({
        {{"id", "return"}, {"state", {"established", "related"}}, {"action", "allow"}},
        {{"id", "icmpv6"}, {"proto", "icmpv6"}, {"action", "allow"}},
        {{"id", "ping"},
         {"src", topo_.client_ip()},
         {"proto", "icmp"},
         {"icmp_type", 8},
         {"action", "allow"}},
        {{"id", "web"},
         {"src", topo_.client_ip()},
         {"dst", topo_.server_ip(1)},
         {"proto", "tcp"},
         {"dport", 8080},
         {"tcp_flags", "syn/syn,ack"},
         {"action", "allow"}},
        {{"id", "closed"}, {"proto", "tcp"}, {"dport", 8081}, {"action", "reject"}},
        {{"id", "udp-closed"}, {"proto", "udp"}, {"dport", 9999}, {"action", "reject"}},
    });
    json ifs = json::array({{{"name", "eth0"}}, {{"name", "eth1"}}});
    return json{{"name", "fwe"},
                {"interfaces", ifs},
                {"vnfs", json::array({{{"name", "fw"},
                                       {"type", "firewall"},
                                       {"config", {{"default", "drop"}, {"rules", rules}}}}})},
                {"egress", {{"action", "fib"}}}}
        .dump();
  }

  // curl's exit code: 0 fetched, 7 refused (RST), 28 timed out (dropped).
  int Curl(int port, int timeout_s = 3) {
    return topo_
        .In(topo_.client_ns(),
            "curl -s -o /dev/null -m " + std::to_string(timeout_s) + " http://" +
                topo_.server_ip(1) + ":" + std::to_string(port) + "/",
            30)
        .exit_code;
  }

  Topology topo_{1};
  Sfcd sfcd_{topo_};
};

TEST_F(FirewallE2E, StatefulRulesRejectsAndLiveEdits) {
  // The topology gives the client end an XDP_PASS program, so the rejects we
  // send with XDP_TX reach its stack at once (see scripts/topo.sh).

  // Neighbours resolved before the chain exists.
  ASSERT_EQ(topo_.In(topo_.client_ns(), "ping -c 1 -W 2 " + topo_.server_ip(1)).exit_code, 0);
  topo_.In(topo_.client_ns(), "ping -6 -c 1 -W 2 " + topo_.server_ip6(1));
  for (int port : {8080, 8081, 8082})
    topo_.Spawn(topo_.server_ns(1),
                "python3 -m http.server " + std::to_string(port) + " --bind " + topo_.server_ip(1));
  for (int i = 0; i < 50; ++i) {
    CommandResult ss = topo_.In(topo_.server_ns(1), "ss -ltn");
    if (ss.output.find(":8080") != std::string::npos &&
        ss.output.find(":8081") != std::string::npos &&
        ss.output.find(":8082") != std::string::npos)
      break;
    std::this_thread::sleep_for(milliseconds(100));
  }

  CommandResult r = sfcd_.Apply(Spec());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // Ping: new out, the echo reply comes back as established.
  EXPECT_EQ(topo_.In(topo_.client_ns(), "ping -c 3 -i 0.2 -W 1 " + topo_.server_ip(1)).exit_code,
            0);
  // The server cannot start anything towards the client.
  EXPECT_NE(topo_.In(topo_.server_ns(1), "ping -c 2 -i 0.2 -W 1 " + topo_.client_ip()).exit_code,
            0);

  // TCP: allowed port works (the handshake's replies are established).
  EXPECT_EQ(Curl(8080), 0);
  // Rejected port: a RST, so the client's stack refuses at once.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Curl(8081), 7);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  // No rule: the default drops, the client times out.
  EXPECT_EQ(Curl(8082, 2), 28);

  // UDP to a rejected port: ICMP "administratively prohibited" reaches the
  // connected socket as EHOSTUNREACH.
  CommandResult udp = topo_.In(
      topo_.client_ns(),
      "python3 -c \"import socket,sys\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "s.settimeout(2)\ns.connect(('" +
          topo_.server_ip(1) +
          "', 9999))\ns.send(b'x')\ntry:\n  s.recv(10)\nexcept OSError as e:\n  print('errno', "
          "e.errno)\"");
  EXPECT_NE(udp.output.find("errno 113"), std::string::npos) << udp.output;

  // Counters by name, straight from the pinned map.
  CommandResult dump = topo_.InVm("bpftool -j map dump pinned " + sfcd_.root() + "/fwe/fw/stats");
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  json d = json::parse(dump.output, nullptr, false);
  ASSERT_FALSE(d.is_discarded()) << dump.output;
  uint64_t reject = 0, est = 0, inserted = 0;
  for (const auto& cpu : d[0]["formatted"]["values"]) {
    reject += cpu["value"]["reject"].get<uint64_t>();
    est += cpu["value"]["ct_established"].get<uint64_t>();
    inserted += cpu["value"]["ct_inserted"].get<uint64_t>();
  }
  EXPECT_GE(reject, 2u);  // the RST and the ICMP error
  EXPECT_GE(est, 5u);
  EXPECT_GE(inserted, 2u);

  // Live edits through sfcctl.
  if (sfcd_.Ctl("fw --help").exit_code != 0) GTEST_SKIP() << "sfcctl has no fw verb in this build";
  r = sfcd_.Ctl("fw add-rule fwe fw --id web2 --src " + topo_.client_ip() +
                " --proto tcp --dport 8082 --action allow --before closed");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Curl(8082), 0);
  r = sfcd_.Ctl("fw add-rule fwe fw --src 10.0.0.0/33 --action drop");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("rules/0/src"), std::string::npos) << r.output;

  r = sfcd_.Ctl("-o json fw list fwe fw");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json listed = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(listed.is_discarded()) << r.output;
  bool saw_web = false;
  for (const auto& rule : listed["rules"]) {
    if (rule["rule"]["id"] == "web") {
      saw_web = true;
      EXPECT_GE(std::stoull(rule["packets"].get<std::string>()), 1u);
    }
  }
  EXPECT_TRUE(saw_web) << listed.dump(2);

  r = sfcd_.Ctl("fw delete-rule fwe fw web2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Curl(8082, 2), 28);
  r = sfcd_.Ctl("fw set-default fwe fw allow");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Curl(8082), 0);
  // The edits are in the saved spec.
  r = sfcd_.Ctl("-o json describe chain fwe");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json described = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(described.is_discarded()) << r.output;
  const json& cfg = described["spec"]["vnfs"][0]["config"];
  EXPECT_EQ(cfg["default"], "allow") << r.output;
  EXPECT_EQ(cfg["rules"].size(), 6u) << r.output;
}

// Rule edits while traffic flows: every edit switches the whole rule set in
// one step, so allowed traffic loses nothing while 20 unrelated rules come
// and go, and the established TCP stream survives; a drop rule then takes
// effect for the very next packets.
TEST_F(FirewallE2E, EditsUnderLoadLoseNoAllowedTraffic) {
  ASSERT_EQ(topo_.In(topo_.client_ns(), "ping -c 1 -W 2 " + topo_.server_ip(1)).exit_code, 0);
  CommandResult r = sfcd_.Apply(Spec());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json spec = json::parse(Spec());
  auto& rules = spec["vnfs"][0]["config"]["rules"];
  rules.push_back({{"id", "iperf"},
                   {"src", topo_.client_ip()},
                   {"proto", "tcp"},
                   {"dport", 5201},
                   {"action", "allow"}});
  r = sfcd_.Apply(spec.dump());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  topo_.Spawn(topo_.server_ns(1), "iperf3 -s -1");
  std::this_thread::sleep_for(milliseconds(500));
  std::thread tcp([&] {
    CommandResult t = topo_.In(topo_.client_ns(), "iperf3 -c " + topo_.server_ip(1) + " -t 4", 60);
    EXPECT_EQ(t.exit_code, 0) << t.output;
  });
  std::string ping_out;
  std::thread ping([&] {
    ping_out =
        topo_.In(topo_.client_ns(), "ping -c 300 -i 0.01 -W 1 " + topo_.server_ip(1), 60).output;
  });
  for (int i = 0; i < 10; ++i) {
    std::string id = "tmp" + std::to_string(i);
    r = sfcd_.Ctl("fw add-rule fwe fw --id " + id + " --src 192.0.2." + std::to_string(i) +
                  " --proto udp --dport 53 --action drop");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    r = sfcd_.Ctl("fw delete-rule fwe fw " + id);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  ping.join();
  tcp.join();
  EXPECT_NE(ping_out.find(" 0% packet loss"), std::string::npos) << ping_out;

  // A drop rule ahead of the rest stops ping at once.
  r = sfcd_.Ctl("fw add-rule fwe fw --id stop-ping --before return --proto icmp --action drop");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  CommandResult blocked =
      topo_.In(topo_.client_ns(), "ping -c 3 -i 0.2 -W 1 " + topo_.server_ip(1), 30);
  EXPECT_NE(blocked.output.find("100% packet loss"), std::string::npos) << blocked.output;
}

}  // namespace
}  // namespace sfc::test
