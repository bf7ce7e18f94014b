// The drop and verdict monitor as a user runs it: real sfcd, real
// `sfcctl monitor -o json` while a firewall rule drops the client's UDP
// between namespaces; the JSON Lines name the rule, the interface and the
// packet; the monitor is off again once the watcher exits.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;

class MonitorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
    json rules =
        json::array({{{"id", "no-mdns"}, {"proto", "udp"}, {"dport", 5353}, {"action", "drop"}}});
    json spec = {{"name", "mon"},
                 {"interfaces", json::array({{{"name", "eth0"}}, {{"name", "eth1"}}})},
                 {"vnfs", json::array({{{"name", "fw"},
                                        {"type", "firewall"},
                                        {"config", {{"default", "allow"}, {"rules", rules}}}}})},
                 {"egress", {{"action", "fib"}}}};
    // Neighbours resolved before the chain exists.
    ASSERT_EQ(topo_.In(topo_.client_ns(), "ping -c 1 -W 2 " + topo_.server_ip(1)).exit_code, 0);
    auto r = sfcd_.Apply(spec.dump());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
  }

  // Runs `sfcctl ARGS` while `traffic` repeats every 200 ms, until sfcctl
  // exits (it is given --count) or 30 s pass.
  CommandResult WatchWhile(const std::string& args, const std::string& traffic) {
    std::atomic<bool> done{false};
    CommandResult out;
    std::thread watcher([&] {
      out = sfcd_.Ctl(args, 30);
      done = true;
    });
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done && std::chrono::steady_clock::now() < until) {
      topo_.In(topo_.client_ns(), traffic, 10);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    watcher.join();
    return out;
  }

  std::string SendUdp(int port) const {
    return "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
           "s.bind(('" +
           topo_.client_ip() + "', 40053)); s.sendto(b'x'*32, ('" + topo_.server_ip(1) + "', " +
           std::to_string(port) + "))\"";
  }

  // The JSON objects of sfcctl's output, one per line; non-JSON lines fail.
  static std::vector<json> Lines(const std::string& text) {
    std::vector<json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
      if (!j.is_discarded()) out.push_back(j);
    }
    return out;
  }

  // The monitor's mode as bpftool reads <chain>/monitor.
  int MonitorMode() const {
    auto r = topo_.InVm("bpftool -j map dump pinned " + sfcd_.root() + "/mon/monitor");
    json j = json::parse(r.output, nullptr, false);
    if (j.is_discarded() || !j.is_array() || j.empty()) return -1;
    const json& e = j[0].contains("formatted") ? j[0]["formatted"] : j[0];
    return e["value"].value("mode", -1);
  }

  Topology topo_{1};
  Sfcd sfcd_{topo_};
};

TEST_F(MonitorE2E, RuleDropsStreamAsJsonLinesAndTheMonitorGoesOffAfter) {
  EXPECT_EQ(MonitorMode(), 0);  // off while nobody watches

  auto r = WatchWhile("-o json monitor mon --count 3", SendUdp(5353));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto lines = Lines(r.output);
  int drops = 0;
  for (const auto& e : lines) {
    if (e.contains("lost")) continue;
    ++drops;
    EXPECT_EQ(e.value("vnf", ""), "fw") << e.dump();
    EXPECT_EQ(e.value("vnf_type", ""), "firewall");
    EXPECT_EQ(e.value("verdict", ""), "drop");
    EXPECT_EQ(e.value("reason", ""), "fw_rule");
    EXPECT_EQ(e.value("rule_id", ""), "no-mdns");
    EXPECT_EQ(e.value("interface", ""), "eth0");
    EXPECT_EQ(e.value("proto", ""), "udp");
    EXPECT_EQ(e.value("src", ""), topo_.client_ip());
    EXPECT_EQ(e.value("dst", ""), topo_.server_ip(1));
    EXPECT_EQ(e.value("sport", 0), 40053);
    EXPECT_EQ(e.value("dport", 0), 5353);
    EXPECT_FALSE(e.value("time", "").empty());
  }
  EXPECT_EQ(drops, 3) << r.output;

  // The stream's end turns the monitor off again.
  int mode = -1;
  for (int i = 0; i < 50 && mode != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    mode = MonitorMode();
  }
  EXPECT_EQ(mode, 0);
  // bpftool reads the monitor's counters by name, too.
  auto stats = topo_.InVm("bpftool map dump pinned " + sfcd_.root() + "/mon/monitor_stats");
  EXPECT_NE(stats.output.find("rate_limited"), std::string::npos) << stats.output;
}

TEST_F(MonitorE2E, AllVerdictsOfOneStageInTheTable) {
  // Allowed traffic shows only with --all; --vnf egress keeps the firewall's quiet.
  // Room for more events than one ping's: the namespaces' own IPv6 neighbour
  // and router traffic crosses egress too, at times of its own.
  auto r = WatchWhile("monitor mon --all --vnf egress --count 8",
                      "ping -c 1 -W 1 " + topo_.server_ip(1));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("VERDICT"), std::string::npos) << r.output;  // the header
  EXPECT_NE(r.output.find(" egress "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" redirect "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(" fw "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(topo_.client_ip() + " > " + topo_.server_ip(1)), std::string::npos)
      << r.output;
}

TEST_F(MonitorE2E, UnknownChainOrVnfFailsClearly) {
  auto r = sfcd_.Ctl("monitor nosuch", 10);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no chain \"nosuch\""), std::string::npos) << r.output;
  r = sfcd_.Ctl("monitor mon --vnf lb", 10);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("has no VNF \"lb\""), std::string::npos) << r.output;
  r = sfcd_.Ctl("monitor mon --drops --all", 10);
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace sfc::test
