// Limits as a user meets them through a real sfcd: every documented maximum
// works, one past it is refused naming the field and the limit, full tables
// count every eviction, and many chains keep sfcd's memory bounded.
//
// CI-sized by default; `make stress` sets the long forms:
//   SFC_LIMIT_RULES  firewall rules at max_rules (default 1000)
//   SFC_LIMIT_FLOWS  distinct UDP flows sent into full tables (default 2000)
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kMaxVnfs = 30;  // SFC_MAX_VNFS, docs/chain-file.md

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

uint64_t U64(const json& v) {
  return v.is_string() ? std::stoull(v.get<std::string>()) : v.get<uint64_t>();
}

uint64_t Counter(const json& counters, const std::string& name) {
  for (const auto& c : counters)
    if (c["name"] == name) return U64(c["value"]);
  ADD_FAILURE() << "no counter " << name << " in " << counters.dump();
  return 0;
}

// VmRSS and VmHWM of a process, in KiB.
struct Memory {
  long rss_kib = -1, hwm_kib = -1;
};

Memory ReadMemory(pid_t pid) {
  Memory m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) m.rss_kib = std::stol(line.substr(6));
    if (line.starts_with("VmHWM:")) m.hwm_kib = std::stol(line.substr(6));
  }
  return m;
}

// The sfcd serving `root` (its command line names our private bpffs root).
pid_t FindSfcd(const std::string& root) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), {});
    std::string exe = cmdline.substr(0, cmdline.find('\0'));
    if (exe.ends_with("/sfcd") && cmdline.find(root + '\0') != std::string::npos)
      return std::stoi(pid);
  }
  return -1;
}

// Ports of firewall rule i in MaxRulesWorkAndOneMoreIsRefused: distinct pairs
// for up to 60,000 x 50,000 rules.
int RuleSport(int i) { return 10000 + i / 60000; }
int RuleDport(int i) { return 1000 + i % 60000; }

class LimitsE2E : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sfcd_.Start()) << sfcd_.log(); }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log (tail) ---\n%s\n", LogTail().c_str());
  }
  std::string LogTail() const {
    std::string log = sfcd_.log();
    return log.size() > 8000 ? log.substr(log.size() - 8000) : log;
  }

  static json Interfaces() {
    json ifs = json::array();
    for (const char* i : {"eth0", "eth1", "eth2"}) ifs.push_back({{"name", i}, {"mode", "native"}});
    return ifs;
  }
  static std::string Spec(const json& vnfs, const std::string& name = "lim") {
    return json{{"name", name},
                {"interfaces", Interfaces()},
                {"vnfs", vnfs},
                {"egress", {{"action", "fib"}}}}
        .dump();
  }
  static json Noops(int n) {
    json vnfs = json::array();
    for (int i = 0; i < n; ++i)
      vnfs.push_back({{"name", "n" + std::to_string(i)}, {"type", "noop"}});
    return vnfs;
  }

  json CtlJson(const std::string& args) { return sfcd_.CtlJson(args); }

  int PingLoss(const std::string& ns, const std::string& target) {
    CommandResult r = topo_.In(ns, "ping -c 5 -i 0.2 -W 1 " + target, 60);
    auto pos = r.output.find("% packet loss");
    if (pos == std::string::npos) return 100;
    auto start = r.output.rfind(' ', pos - 1);
    return std::stoi(r.output.substr(start + 1, pos - start - 1));
  }

  // `flows` UDP datagrams from the client to server 1, each a new flow
  // (distinct source port), sent by a plain socket: real traffic.
  void SendUdpFlows(int flows) {
    std::string py =
        "import socket\n"
        "for p in range(" +
        std::to_string(flows) +
        "):\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    s.bind((\"" +
        topo_.client_ip() +
        "\", 20000 + p))\n"
        "    s.sendto(b\"x\", (\"" +
        topo_.server_ip(1) +
        "\", 9))\n"
        "    s.close()\n";
    CommandResult r = topo_.In(topo_.client_ns(), "/usr/bin/python3 -c '" + py + "'", 120);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  Topology topo_{2};
  Sfcd sfcd_{topo_};
};

// 30 VNFs (32 tail calls with entry and egress, under the kernel's 33) carry
// traffic end to end; 31 are refused before anything is loaded.
TEST_F(LimitsE2E, LongestChainCarriesTrafficAndOneMoreIsRefused) {
  CommandResult r = sfcd_.Apply(Spec(Noops(kMaxVnfs)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(PingLoss(topo_.client_ns(), topo_.server_ip(1)), 0);
  json stats = CtlJson("stats lim");
  ASSERT_EQ(stats["vnfs"].size(), static_cast<size_t>(kMaxVnfs));
  EXPECT_GE(Counter(stats["vnfs"][kMaxVnfs - 1]["counters"], "rx_packets"), 10u);  // 5 out, 5 back
  EXPECT_EQ(Counter(stats["counters"], "tail_call_miss"), 0u);

  r = sfcd_.Apply(Spec(Noops(kMaxVnfs + 1), "lim2"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/vnfs"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("at most 30"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("33 tail calls"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(sfcd_.root() + "/lim2"));
}

// max_rules rules load and filter; one more is refused, in the chain file and
// as a live edit, naming max_rules; the running rule set is untouched.
TEST_F(LimitsE2E, MaxRulesWorkAndOneMoreIsRefused) {
  const int max_rules = EnvInt("SFC_LIMIT_RULES", 1000);
  std::printf("max_rules = %d\n", max_rules);
  // Rule i matches one (source port, destination port) pair of its own.
  auto firewall = [&](int rules) {
    json list = json::array();
    for (int i = 0; i < rules; ++i)
      list.push_back({{"id", "r" + std::to_string(i)},
                      {"proto", "udp"},
                      {"sport", RuleSport(i)},
                      {"dport", RuleDport(i)},
                      {"action", "drop"}});
    return json::array(
        {{{"name", "fw"},
          {"type", "firewall"},
          {"config", {{"default", "allow"}, {"max_rules", max_rules}, {"rules", list}}}}});
  };
  CommandResult r = sfcd_.Apply(Spec(firewall(max_rules)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(PingLoss(topo_.client_ns(), topo_.server_ip(1)), 0);  // default allow still holds
  // The first and the last rule both match: 3 datagrams to each one's ports.
  const std::string py =
      "import socket\n"
      "for sport, dport in ((" +
      std::to_string(RuleSport(0)) + ", " + std::to_string(RuleDport(0)) + "), (" +
      std::to_string(RuleSport(max_rules - 1)) + ", " + std::to_string(RuleDport(max_rules - 1)) +
      ")):\n"
      "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
      "    s.bind((\"" +
      topo_.client_ip() +
      "\", sport))\n"
      "    for _ in range(3): s.sendto(b\"x\", (\"" +
      topo_.server_ip(1) +
      "\", dport))\n"
      "    s.close()\n";
  CommandResult udp = topo_.In(topo_.client_ns(), "/usr/bin/python3 -c '" + py + "'");
  ASSERT_EQ(udp.exit_code, 0) << udp.output;
  json rules = CtlJson("fw list lim fw --limit 100000")["rules"];
  ASSERT_EQ(rules.size(), static_cast<size_t>(max_rules));
  EXPECT_EQ(U64(rules[0]["packets"]), 3u) << rules[0].dump();
  EXPECT_EQ(U64(rules[max_rules - 1]["packets"]), 3u) << rules[max_rules - 1].dump();

  r = sfcd_.Ctl("fw add-rule lim fw --id extra --proto udp --dport 9 --action drop");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("max_rules " + std::to_string(max_rules)), std::string::npos) << r.output;
  EXPECT_EQ(CtlJson("fw list lim fw --limit 100000")["rules"].size(),
            static_cast<size_t>(max_rules));  // unchanged

  r = sfcd_.Apply(Spec(firewall(max_rules + 1), "lim2"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/vnfs/0/config/rules"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exceed max_rules"), std::string::npos) << r.output;

  // The cap on max_rules itself (counter slots are 24 bits).
  json too_big = firewall(0);
  too_big[0]["config"]["max_rules"] = (1u << 24) + 1;
  r = sfcd_.Apply(Spec(too_big, "lim3"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("/vnfs/0/config/max_rules"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("16777216"), std::string::npos) << r.output;
}

// Full flow and conntrack tables, filled by real traffic past capacity: every
// flow that did not fit is counted as an eviction.
TEST_F(LimitsE2E, FullFlowAndConntrackTablesCountEveryEviction) {
  const int flows = EnvInt("SFC_LIMIT_FLOWS", 2000);
  constexpr int kMaxFlows = 512, kCtEntries = 256;
  std::printf("flows sent = %d, max_flows = %d, conntrack max_entries = %d\n", flows, kMaxFlows,
              kCtEntries);
  json vnfs = json::array(
      {{{"name", "fw"},
        {"type", "firewall"},
        {"config", {{"default", "allow"}, {"conntrack", {{"max_entries", kCtEntries}}}}}},
       {{"name", "mon"},
        {"type", "flowmon"},
        {"config",
         {{"max_flows", kMaxFlows},
          {"idle_timeout_s", 3600},
          {"active_timeout_s", 7200},
          {"scan_interval_ms", 100}}}}});
  CommandResult r = sfcd_.Apply(Spec(vnfs));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // No pause for the exporter's first scan: a new table's losses count from
  // its first flow, whenever that scan comes.
  SendUdpFlows(flows);

  // Conntrack: the table holds exactly max_entries; the rest were evicted.
  json stats = CtlJson("stats lim");
  const json& fw = stats["vnfs"][0]["counters"];
  const uint64_t inserted = Counter(fw, "ct_inserted");
  EXPECT_GE(inserted, static_cast<uint64_t>(flows));
  EXPECT_EQ(Counter(fw, "ct_evicted"), inserted - kCtEntries);
  std::printf("conntrack: inserted %llu, evicted %llu\n", static_cast<unsigned long long>(inserted),
              static_cast<unsigned long long>(Counter(fw, "ct_evicted")));

  // Flow table: the exporter's scan accounts for what the LRU dropped.
  json summary;
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(milliseconds(200));
    summary = CtlJson("flows lim --summary");
    if (U64(summary["flows_created"]) >= static_cast<uint64_t>(flows) &&
        U64(summary["evictions"]) + U64(summary["active_flows"]) == U64(summary["flows_created"]))
      break;
  }
  const uint64_t created = U64(summary["flows_created"]), active = U64(summary["active_flows"]);
  EXPECT_GE(created, static_cast<uint64_t>(flows)) << summary.dump(2);
  EXPECT_LE(active, static_cast<uint64_t>(kMaxFlows)) << summary.dump(2);
  EXPECT_EQ(U64(summary["evictions"]), created - active) << summary.dump(2);
  EXPECT_EQ(U64(summary["insert_failures"]), 0u);
  EXPECT_EQ(U64(summary["max_flows"]), static_cast<uint64_t>(kMaxFlows));
  std::printf("flows: created %llu, active %llu, evicted %llu\n",
              static_cast<unsigned long long>(created), static_cast<unsigned long long>(active),
              static_cast<unsigned long long>(U64(summary["evictions"])));
}

// 64 chains on 64 interfaces in one sfcd: all apply, traffic crosses a few,
// all delete leaving no pins or XDP, twice. sfcd's memory stays under a bound
// at 64 chains, and a second round costs nothing more than the first (what
// the allocator keeps after the first is reused, not leaked).
TEST_F(LimitsE2E, SixtyFourChainsOnSixtyFourInterfaces) {
  constexpr int kChains = 64;
  constexpr long kPeakGrowthKib = 64 * 1024;  // VmHWM over baseline
  constexpr long kRoundGrowthKib = 4 * 1024;  // VmRSS, after round 2 over after round 1
  // One noop per chain keeps CI short; SFC_LIMIT_CHAIN_VNFS=full loads a
  // firewall and a flow monitor in each (about 90 s for the 64).
  const bool full = std::string(std::getenv("SFC_LIMIT_CHAIN_VNFS") ?: "") == "full";
  const json vnfs =
      full
          ? json::array({{{"name", "fw"}, {"type", "firewall"}, {"config", {{"default", "allow"}}}},
                         {{"name", "mon"}, {"type", "flowmon"}, {"config", json::object()}}})
          : Noops(1);
  const pid_t pid = FindSfcd(sfcd_.root());
  ASSERT_GT(pid, 0);

  // Interface i: "lm<i>" in the VM, its peer "lp<i>" in the client namespace,
  // 10.<net>.<100+i>.0/24 between them.
  const std::string net = "10." + std::to_string(topo_.net()) + ".";
  std::string setup;
  for (int i = 0; i < kChains; ++i) {
    const std::string n = std::to_string(i), sub = net + std::to_string(100 + i) + ".";
    setup += "ip link add lm" + n + " type veth peer name lp" + n + " netns " + topo_.client_ns() +
             " && ip addr add " + sub + "1/24 dev lm" + n + " && ip link set lm" + n +
             " up && ip netns exec " + topo_.client_ns() + " sh -c 'ip addr add " + sub +
             "2/24 dev lp" + n + " && ip link set lp" + n + " up' && ";
  }
  CommandResult r = topo_.InVm(setup + "true", 120);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto round = [&](Memory* peak) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kChains; ++i) {
      json spec = {
          {"name", "c" + std::to_string(i)},
          {"interfaces", json::array({{{"name", "lm" + std::to_string(i)}, {"mode", "generic"}}})},
          {"vnfs", vnfs}};
      CommandResult a = sfcd_.Apply(spec.dump());
      ASSERT_EQ(a.exit_code, 0) << "chain " << i << ": " << a.output;
    }
    std::printf("64 applies: %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_EQ(CtlJson("get chains")["chains"].size(), static_cast<size_t>(kChains));
    // The first, a middle and the last chain carry traffic (egress pass: the
    // VM's kernel answers).
    for (int i : {0, kChains / 2, kChains - 1}) {
      EXPECT_EQ(PingLoss(topo_.client_ns(), net + std::to_string(100 + i) + ".1"), 0)
          << "chain " << i;
      EXPECT_GE(Counter(CtlJson("stats c" + std::to_string(i))["counters"], "rx_packets"), 5u)
          << "chain " << i;
    }
    *peak = ReadMemory(pid);
    for (int i = 0; i < kChains; ++i) {
      CommandResult d = sfcd_.Ctl("delete chain c" + std::to_string(i));
      ASSERT_EQ(d.exit_code, 0) << d.output;
    }
    EXPECT_TRUE(CtlJson("get chains")["chains"].empty());
    std::vector<std::string> left;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(sfcd_.root(), ec))
      left.push_back(entry.path().filename());
    EXPECT_TRUE(left.empty()) << "left under " << sfcd_.root() << ": "
                              << testing::PrintToString(left);
    CommandResult xdp = topo_.InVm(
        "for i in $(seq 0 63); do ip -d link show lm$i | grep -q xdp && echo lm$i; done; true");
    EXPECT_EQ(xdp.output, "") << "interfaces still with XDP";
  };

  const Memory base = ReadMemory(pid);
  Memory peak1, peak2;
  round(&peak1);
  const Memory after1 = ReadMemory(pid);
  round(&peak2);
  const Memory after2 = ReadMemory(pid);
  std::printf(
      "sfcd memory (KiB, %s chains): baseline rss %ld; round 1: 64 chains rss %ld, after delete "
      "rss %ld; "
      "round 2: 64 chains rss %ld, after delete rss %ld; hwm %ld\n",
      full ? "fw+flowmon" : "noop", base.rss_kib, peak1.rss_kib, after1.rss_kib, peak2.rss_kib,
      after2.rss_kib, after2.hwm_kib);
  EXPECT_LT(after2.hwm_kib - base.rss_kib, kPeakGrowthKib);
  EXPECT_LT(after2.rss_kib - after1.rss_kib, kRoundGrowthKib);
}

}  // namespace
}  // namespace sfc::test
