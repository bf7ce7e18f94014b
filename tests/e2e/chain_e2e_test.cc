// The product as a user runs it: a real sfcd in the VM namespace, real
// sfcctl, real traffic between namespaces, real bpftool and xdp-loader.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

class ChainE2E : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sfcd_.Start()) << sfcd_.log(); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
  }

  static std::string Spec(int noops, const std::string& egress = R"({"action": "fib"})",
                          const std::string& mode = "native", const std::string& name = "web") {
    json vnfs = json::array();
    for (int i = 0; i < noops; ++i)
      vnfs.push_back({{"name", "n" + std::to_string(i)}, {"type", "noop"}});
    json ifs = json::array();
    for (const char* i : {"eth0", "eth1", "eth2"}) ifs.push_back({{"name", i}, {"mode", mode}});
    return json{
        {"name", name}, {"interfaces", ifs}, {"vnfs", vnfs}, {"egress", json::parse(egress)}}
        .dump();
  }

  json CtlJson(const std::string& args) { return sfcd_.CtlJson(args); }

  static uint64_t Counter(const json& counters, const std::string& name) {
    for (const auto& c : counters)
      if (c["name"] == name) return std::stoull(c["value"].get<std::string>());
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }

  // ping from the client; returns the loss percentage (100 on failure).
  int PingLoss(const std::string& target, const std::string& args = "-c 5 -i 0.2") {
    CommandResult r = topo_.In(topo_.client_ns(), "ping " + args + " -W 1 " + target, 120);
    auto pos = r.output.find("% packet loss");
    if (pos == std::string::npos) return 100;
    auto start = r.output.rfind(' ', pos - 1);
    return std::stoi(r.output.substr(start + 1, pos - start - 1));
  }

  Topology topo_{2};
  Sfcd sfcd_{topo_};
};

TEST_F(ChainE2E, ForwardsPingTcpUdpWithFibAndCountsByName) {
  CommandResult r = sfcd_.Apply(Spec(2));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);
  EXPECT_EQ(PingLoss(topo_.server_ip6(2)), 0);

  // TCP and UDP through the chain, both directions of each.
  topo_.Spawn(topo_.server_ns(1), "iperf3 -s -1");
  std::this_thread::sleep_for(milliseconds(500));
  CommandResult tcp =
      topo_.In(topo_.client_ns(), "iperf3 -c " + topo_.server_ip(1) + " -t 2 -J", 30);
  ASSERT_EQ(tcp.exit_code, 0) << tcp.output;
  json tj = json::parse(tcp.output);
  EXPECT_GT(tj["end"]["sum_received"]["bytes"].get<double>(), 1e6);

  topo_.Spawn(topo_.server_ns(2), "iperf3 -s -1");
  std::this_thread::sleep_for(milliseconds(500));
  CommandResult udp = topo_.In(
      topo_.client_ns(), "iperf3 -u -b 20M -l 1000 -c " + topo_.server_ip(2) + " -t 1 -J", 30);
  ASSERT_EQ(udp.exit_code, 0) << udp.output;
  json uj = json::parse(udp.output);
  EXPECT_GT(uj["end"]["sum"]["packets"].get<double>(), 1000);
  EXPECT_LT(uj["end"]["sum"]["lost_percent"].get<double>(), 1.0);

  // Counters: sfcctl and bpftool read the same pinned map, by field name.
  json stats = CtlJson("stats web");
  uint64_t chain_rx = Counter(stats["counters"], "rx_packets");
  EXPECT_GT(Counter(stats["counters"], "egress_redirect"), 1000u);
  EXPECT_EQ(Counter(stats["counters"], "malformed"), 0u);
  ASSERT_EQ(stats["vnfs"].size(), 2u);
  uint64_t n0_rx = Counter(stats["vnfs"][0]["counters"], "rx_packets");
  EXPECT_GT(n0_rx, 1000u);
  EXPECT_LE(n0_rx, chain_rx);

  CommandResult dump = Sh("bpftool -j map dump pinned " + sfcd_.root() + "/web/n0/stats");
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  json dj = json::parse(dump.output);
  // -j puts the BTF-decoded view under "formatted".
  const json& entry = dj[0].contains("formatted") ? dj[0]["formatted"] : dj[0];
  uint64_t sum = 0, pass = 0;
  for (const auto& cpu : entry["values"]) {
    sum += cpu["value"]["rx_packets"].get<uint64_t>();
    pass += cpu["value"]["pass"].get<uint64_t>();
  }
  EXPECT_GE(sum, n0_rx);  // read after sfcctl; traffic has stopped
  EXPECT_LE(sum - n0_rx, 10u);
  EXPECT_EQ(pass, sum);

  CommandResult xdp = topo_.InVm("xdp-loader status");
  EXPECT_NE(xdp.output.find("sfc_entry"), std::string::npos) << xdp.output;
  json desc = CtlJson("describe chain web");
  for (const auto& a : desc["attachments"]) {
    EXPECT_TRUE(a["attached"].get<bool>()) << a.dump();
    EXPECT_EQ(a["mode"], "native");
    EXPECT_NE(xdp.output.find(std::to_string(a["prog_id"].get<uint32_t>())), std::string::npos);
  }
}

TEST_F(ChainE2E, GenericModeOnRequest) {
  CommandResult r = sfcd_.Apply(Spec(1, R"({"action": "pass"})", "generic"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json desc = CtlJson("describe chain web");
  for (const auto& a : desc["attachments"]) EXPECT_EQ(a["mode"], "generic") << a.dump();
  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);
  EXPECT_GT(Counter(CtlJson("stats web")["counters"], "egress_pass"), 0u);
}

// kill -9 while traffic flows: pins keep the chain running; a restarted sfcd
// adopts it without touching it.
TEST_F(ChainE2E, CrashLosesNoPacketsAndRestartAdopts) {
  ASSERT_EQ(sfcd_.Apply(Spec(2)).exit_code, 0);
  json before = CtlJson("describe chain web");

  std::thread ping([&] { EXPECT_EQ(PingLoss(topo_.server_ip(1), "-c 300 -i 0.01"), 0); });
  std::this_thread::sleep_for(milliseconds(800));
  sfcd_.Kill9();
  std::this_thread::sleep_for(milliseconds(800));
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  ping.join();

  json after = CtlJson("describe chain web");
  EXPECT_EQ(after["generation"], before["generation"]);
  for (size_t i = 0; i < after["attachments"].size(); ++i) {
    EXPECT_TRUE(after["attachments"][i]["attached"].get<bool>());
    EXPECT_EQ(after["attachments"][i]["prog_id"], before["attachments"][i]["prog_id"])
        << "re-attached";
  }
  EXPECT_NE(sfcd_.log().find("event=chain.adopted chain=web"), std::string::npos);
}

TEST_F(ChainE2E, SigtermLeavesDataPlaneRunning) {
  ASSERT_EQ(sfcd_.Apply(Spec(1)).exit_code, 0);
  sfcd_.Stop();
  EXPECT_EQ(PingLoss(topo_.server_ip(2)), 0);
  CommandResult xdp = topo_.InVm("xdp-loader status");
  EXPECT_NE(xdp.output.find("sfc_entry"), std::string::npos) << xdp.output;
  ASSERT_TRUE(sfcd_.Start());
  EXPECT_EQ(CtlJson("get chains")["chains"].size(), 1u);
}

// Edits applied while ping and a TCP stream run: nothing is lost, the TCP
// connection survives, counters of staying VNFs keep counting.
TEST_F(ChainE2E, ApplyUnderTrafficLosesNothing) {
  ASSERT_EQ(sfcd_.Apply(Spec(1)).exit_code, 0);
  topo_.Spawn(topo_.server_ns(1), "iperf3 -s -1");
  std::this_thread::sleep_for(milliseconds(500));
  std::thread tcp([&] {
    CommandResult r =
        topo_.In(topo_.client_ns(), "iperf3 -c " + topo_.server_ip(1) + " -t 4 -J", 60);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  });
  std::thread ping([&] { EXPECT_EQ(PingLoss(topo_.server_ip(2), "-c 400 -i 0.01"), 0); });
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(milliseconds(400));
    CommandResult r = sfcd_.Apply(Spec(i % 2 ? 1 : 3));
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }
  tcp.join();
  ping.join();
  json desc = CtlJson("describe chain web");
  EXPECT_EQ(desc["generation"], "7");  // uint64 is a string in proto JSON
  json stats = CtlJson("stats web");
  EXPECT_EQ(Counter(stats["counters"], "tail_call_miss"), 0u);
  EXPECT_GT(Counter(stats["vnfs"][0]["counters"], "rx_packets"), 400u);  // n0 stayed throughout
}

TEST_F(ChainE2E, DeleteLeavesNoPinsAndNoXdp) {
  ASSERT_EQ(sfcd_.Apply(Spec(2)).exit_code, 0);
  ASSERT_EQ(Sh("test -d " + sfcd_.root() + "/web/n1").exit_code, 0);
  CommandResult r = sfcd_.Ctl("delete chain web");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(Sh("test -e " + sfcd_.root() + "/web").exit_code, 0);
  CommandResult xdp = topo_.InVm("xdp-loader status");
  EXPECT_EQ(xdp.output.find("sfc_entry"), std::string::npos) << xdp.output;
  EXPECT_EQ(CtlJson("get chains")["chains"].size(), 0u);
  // Traffic still flows through the kernel.
  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);
  EXPECT_EQ(sfcd_.Ctl("delete chain web").exit_code, 1);
}

// Bad requests get a message naming the field, a non-zero exit, and change nothing.
TEST_F(ChainE2E, BadRequestsChangeNothing) {
  ASSERT_EQ(sfcd_.Apply(Spec(1)).exit_code, 0);
  struct Case {
    std::string json, message;
  } cases[] = {
      {R"({"name": "x", "interfaces": ["nosuch0"]})", "/interfaces/0: no interface \"nosuch0\""},
      {Spec(0, R"({"action": "fib"})", "native", "other"), "already used by chain \"web\""},
      {R"({"name": "web", "interfaces": ["eth0"], "vnfs": [{"name": "a", "type": "nat"}]})",
       "/vnfs/0/type: unknown VNF type \"nat\""},
      {R"({"name": "web", "interfaces": ["eth0"],)", "not valid JSON"},
      {R"({"name": "web", "interfaces": ["eth0"], "egress": {"action": "redirect", "port": "nosuch1"}})",
       "/egress/port: no interface"},
  };
  for (const auto& c : cases) {
    CommandResult r = sfcd_.Apply(c.json);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
  }
  json desc = CtlJson("describe chain web");
  EXPECT_EQ(desc["generation"], "1");
  EXPECT_EQ(desc["vnfs"].size(), 1u);
  EXPECT_EQ(CtlJson("get chains")["chains"].size(), 1u);
  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);
  // Usage errors exit 2; an unreachable server exits 3.
  EXPECT_EQ(sfcd_.Ctl("apply").exit_code, 2);
  EXPECT_EQ(Sh(BuildDir() + "/cli/sfcctl --server unix:/nonexistent.sock get chains").exit_code, 3);
}

TEST_F(ChainE2E, DetachOnExitOnRequest) {
  ASSERT_EQ(sfcd_.Apply(Spec(1)).exit_code, 0);
  sfcd_.Stop();
  ASSERT_TRUE(sfcd_.Start("--detach-on-exit"));
  sfcd_.Stop();
  CommandResult xdp = topo_.InVm("xdp-loader status");
  EXPECT_EQ(xdp.output.find("sfc_entry"), std::string::npos) << xdp.output;
  // The next sfcd finds the pins but no attachment, and re-attaches.
  ASSERT_TRUE(sfcd_.Start());
  json desc = CtlJson("describe chain web");
  for (const auto& a : desc["attachments"]) EXPECT_TRUE(a["attached"].get<bool>()) << a.dump();
  EXPECT_NE(sfcd_.log().find("event=chain.reattach"), std::string::npos);
}

// Reconciliation on start: an attachment someone removed comes back, and a
// chain whose pins are gone (a reboot) is rebuilt from the saved spec.
TEST_F(ChainE2E, RestartReconcilesWithSavedSpec) {
  ASSERT_EQ(sfcd_.Apply(Spec(2)).exit_code, 0);
  sfcd_.Stop();
  ASSERT_EQ(topo_.InVm("xdp-loader unload eth1 --all").exit_code, 0);
  ASSERT_TRUE(sfcd_.Start());
  json desc = CtlJson("describe chain web");
  for (const auto& a : desc["attachments"]) EXPECT_TRUE(a["attached"].get<bool>()) << a.dump();
  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);

  sfcd_.Stop();
  for (const char* ifname : {"eth0", "eth1", "eth2"})
    topo_.InVm(std::string("xdp-loader unload ") + ifname + " --all");
  ASSERT_EQ(Sh("rm -rf " + sfcd_.root() + "/web").exit_code, 0);
  ASSERT_TRUE(sfcd_.Start());
  desc = CtlJson("describe chain web");
  EXPECT_EQ(desc["vnfs"].size(), 2u);
  for (const auto& a : desc["attachments"]) EXPECT_TRUE(a["attached"].get<bool>()) << a.dump();
  EXPECT_EQ(PingLoss(topo_.server_ip(2)), 0);
  EXPECT_GT(Counter(CtlJson("stats web")["counters"], "egress_redirect"), 0u);
}

TEST_F(ChainE2E, StatsWatchStreams) {
  ASSERT_EQ(sfcd_.Apply(Spec(1)).exit_code, 0);
  CommandResult r = sfcd_.Ctl("stats web --watch --interval 200", 2);
  // timeout(1) ends the stream; every snapshot starts with a "---" line.
  size_t snapshots = 0;
  for (size_t pos = 0; (pos = r.output.find("--- ", pos)) != std::string::npos; ++pos) ++snapshots;
  EXPECT_GE(snapshots, 3u) << r.output;
  EXPECT_NE(r.output.find("PER_SEC"), std::string::npos) << r.output;
}

// `sfcctl version` reports both ends; the server's comes from GetVersion.
TEST_F(ChainE2E, VersionOfClientAndServer) {
  CommandResult daemon = Sh(BuildDir() + "/daemon/sfcd --version");
  ASSERT_EQ(daemon.exit_code, 0) << daemon.output;
  EXPECT_EQ(daemon.output.rfind("sfcd ", 0), 0u) << daemon.output;
  json v = CtlJson("version");
  EXPECT_EQ(v["server"]["api"], "sfc.v1") << v.dump();
  EXPECT_EQ(v["server"]["version"], v["client"]["version"]) << v.dump();
  EXPECT_EQ(v["server"]["commit"], v["client"]["commit"]) << v.dump();
  EXPECT_FALSE(v["server"]["kernel"].get<std::string>().empty()) << v.dump();
  EXPECT_NE(daemon.output.find(v["server"]["commit"].get<std::string>()), std::string::npos)
      << daemon.output;
  sfcd_.Stop();
  CommandResult down = sfcd_.Ctl("version");
  EXPECT_EQ(down.exit_code, 3) << down.output;  // unreachable, after the client's line
  EXPECT_NE(down.output.find("client: sfcctl "), std::string::npos) << down.output;
}

TEST_F(ChainE2E, DryRunAttachesNothing) {
  CommandResult r = sfcd_.Apply(Spec(2), "--dry-run");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("passed the verifier"), std::string::npos) << r.output;
  EXPECT_EQ(CtlJson("get chains")["chains"].size(), 0u);
  EXPECT_NE(Sh("test -e " + sfcd_.root() + "/web").exit_code, 0);
}

}  // namespace
}  // namespace sfc::test
