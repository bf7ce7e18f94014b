// The Python package (clients/python/sfc_orchestrator, on the sfc.v1 modules
// the build generates from proto/) against real sfcd instances: two sfcd in
// one VM namespace, each with its own bpffs root and socket, applied to in
// parallel by `python3 -m sfc_orchestrator`, watched while traffic flows,
// and raced by two replicas with expected_generation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;

std::string PythonEnv() {
  return "PYTHONPATH=" + BuildDir() + "/clients/python/gen:" + SourceDir() + "/clients/python ";
}

// python3 -m sfc_orchestrator ARGS (Debian's python3, where python3-grpcio is).
CommandResult Orchestrator(const std::string& args, int timeout_s = 120) {
  return Sh(PythonEnv() + "/usr/bin/python3 -m sfc_orchestrator " + args, timeout_s);
}

// The JSON lines of an orchestrator's output.
std::vector<json> Lines(const std::string& output) {
  std::vector<json> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '{') continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

class OrchestratorE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(a_.Start()) << a_.log();
    ASSERT_TRUE(b_.Start()) << b_.log();
  }

  // A file the test removes when it ends.
  std::string File(const std::string& name, const std::string& text) {
    std::string path = "/tmp/sfc-e2e-" + topo_.prefix() + "-" + name;
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& f : files_) std::filesystem::remove(f);
  }

  // A firewall on `ifname`; `dport` makes specs differ.
  static std::string FwChain(const std::string& name, const std::string& ifname, int dport = 9) {
    json fw = {{"default", "allow"},
               {"rules", {{{"id", "r"}, {"proto", "udp"}, {"dport", dport}, {"action", "drop"}}}}};
    return json{{"name", name},
                {"interfaces", {{{"name", ifname}, {"mode", "generic"}}}},
                {"vnfs", {{{"name", "fw"}, {"type", "firewall"}, {"config", fw}}}},
                {"egress", {{"action", "pass"}}}}
        .dump();
  }
  static std::string FmChain(const std::string& name, const std::string& ifname) {
    return json{
        {"name", name},
        {"interfaces", {{{"name", ifname}, {"mode", "generic"}}}},
        {"vnfs", {{{"name", "fm"}, {"type", "flowmon"}, {"config", {{"max_flows", 1024}}}}}},
        {"egress", {{"action", "pass"}}}}
        .dump();
  }

  Topology topo_{1};
  Sfcd a_{topo_.vm_ns(), topo_.prefix() + "A"};
  Sfcd b_{topo_.vm_ns(), topo_.prefix() + "B"};
  std::vector<std::string> files_;
};

TEST_F(OrchestratorE2E, AppliesToSeveralSfcdInParallelAndWatchesTheirStats) {
  const std::string sa = "unix:" + a_.socket(), sb = "unix:" + b_.socket();
  const std::string fw = File("fw.json", FwChain("vm-a", "eth0"));
  const std::string fm = File("fm.json", FmChain("vm-b", "eth1"));

  CommandResult r = Orchestrator("apply --sfcd " + sa + " " + fw + " --sfcd " + sb + " " + fm);
  ASSERT_EQ(r.exit_code, 0) << r.output << a_.log() << b_.log();
  auto lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 2u) << r.output;
  EXPECT_EQ(lines[0],
            json({{"sfcd", sa}, {"chain", "vm-a"}, {"generation", 1}, {"changed", true}}));
  EXPECT_EQ(lines[1],
            json({{"sfcd", sb}, {"chain", "vm-b"}, {"generation", 1}, {"changed", true}}));
  // Each sfcd runs its own chain, and only that one.
  EXPECT_EQ(a_.CtlJson("get chains")["chains"].size(), 1u);
  EXPECT_EQ(a_.CtlJson("describe chain vm-a")["spec"]["name"], "vm-a");
  EXPECT_EQ(b_.CtlJson("describe chain vm-b")["spec"]["name"], "vm-b");

  // Again: idempotent, nothing changes.
  r = Orchestrator("apply --guarded --sfcd " + sa + " " + fw + " --sfcd " + sb + " " + fm);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& l : Lines(r.output)) EXPECT_EQ(l["changed"], false) << l;

  // status: health, version, generations.
  r = Orchestrator("status --sfcd " + sa + " --sfcd " + sb);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 2u) << r.output;
  EXPECT_EQ(lines[0]["serving"], true);
  EXPECT_EQ(lines[0]["chains"]["vm-a"]["generation"], 1);
  EXPECT_EQ(lines[0]["chains"]["vm-a"]["attached"], true);
  EXPECT_EQ(lines[1]["chains"]["vm-b"]["generation"], 1);

  // watch both while the client pings through vm-a's interface.
  pid_t ping = topo_.Spawn(topo_.client_ns(), "ping -i 0.05 -c 100 " + topo_.server_ip(1));
  (void)ping;
  r = Orchestrator("watch --interval-ms 300 --count 3 --sfcd " + sa + " vm-a --sfcd " + sb +
                   " vm-b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lines = Lines(r.output);
  int a_snaps = 0, b_snaps = 0;
  uint64_t first_rx = 0, last_rx = 0;
  for (const auto& l : lines) {
    if (l["chain"] == "vm-a") {
      EXPECT_EQ(l["sfcd"], sa);
      const uint64_t rx = l["vnfs"]["fw"]["rx_packets"].get<uint64_t>();
      if (a_snaps++ == 0) first_rx = rx;
      last_rx = rx;
    } else {
      EXPECT_EQ(l["sfcd"], sb);
      EXPECT_TRUE(l["vnfs"].contains("fm")) << l;
      ++b_snaps;
    }
  }
  EXPECT_GE(a_snaps, 3) << r.output;
  EXPECT_GE(b_snaps, 3) << r.output;
  EXPECT_GT(last_rx, first_rx) << "the firewall of vm-a counted no pings while watched";

  // delete both, in parallel.
  r = Orchestrator("delete --sfcd " + sa + " vm-a --sfcd " + sb + " vm-b");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(a_.CtlJson("get chains").value("chains", json::array()).size(), 0u);
  EXPECT_EQ(b_.CtlJson("get chains").value("chains", json::array()).size(), 0u);
}

TEST_F(OrchestratorE2E, TwoReplicasRaceOneGetsFailedPrecondition) {
  const std::string sa = "unix:" + a_.socket();
  ASSERT_EQ(a_.Apply(FwChain("race", "eth0", 100)).exit_code, 0) << a_.log();
  for (int round = 0; round < 3; ++round) {
    const std::string fa = File("ra.json", FwChain("race", "eth0", 200 + 2 * round));
    const std::string fb = File("rb.json", FwChain("race", "eth0", 201 + 2 * round));
    CommandResult r = Sh(PythonEnv() + "/usr/bin/python3 " + SourceDir() +
                             "/tests/e2e/orchestrator_race.py " + sa + " race " + fa + " " + fb,
                         120);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto lines = Lines(r.output);
    ASSERT_EQ(lines.size(), 1u) << r.output;
    const json& res = lines[0];
    const uint64_t expected = res["expected"].get<uint64_t>();
    EXPECT_EQ(expected, 1u + round);
    int won = 0;
    for (const auto& x : res["results"]) {
      if (x["ok"] == true) {
        ++won;
        EXPECT_EQ(x["generation"], expected + 1);
      } else {
        EXPECT_EQ(x["code"], "FAILED_PRECONDITION") << x;
        EXPECT_EQ(x["message"], "expected_generation: chain \"race\" is at generation " +
                                    std::to_string(expected + 1) +
                                    ", not the expected generation " + std::to_string(expected));
      }
    }
    EXPECT_EQ(won, 1) << r.output;
  }
}

TEST_F(OrchestratorE2E, ExitCodesForScripts) {
  const std::string fw = File("fw.json", FwChain("codes", "eth0"));
  // An sfcd that is not there: 3, and the other target is still applied.
  CommandResult r = Orchestrator("apply --sfcd unix:/tmp/sfc-e2e-" + topo_.prefix() +
                                 "-nobody.sock " + fw + " --sfcd unix:" + a_.socket() + " " + fw);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("\"error\": \"UNAVAILABLE\""), std::string::npos) << r.output;
  EXPECT_EQ(a_.CtlJson("describe chain codes")["spec"]["name"], "codes");
  // The server refuses: 1, with the code and the server's message.
  const std::string bad = File("bad.json", R"({"name": "codes", "interfaces": [{"name": "eth0"}],
                                          "vnfs": [{"name": "x", "type": "nat"}]})");
  r = Orchestrator("apply --sfcd unix:" + a_.socket() + " " + bad);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("INVALID_ARGUMENT"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/vnfs/0/type"), std::string::npos) << r.output;
  // Bad usage: 2.
  EXPECT_EQ(Orchestrator("apply --sfcd unix:" + a_.socket()).exit_code, 2);
  // A watch of a chain that does not exist ends with its error.
  r = Orchestrator("watch --count 1 --sfcd unix:" + a_.socket() + " nosuch");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("NOT_FOUND"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sfc::test
