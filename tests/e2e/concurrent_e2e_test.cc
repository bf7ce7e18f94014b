// 50 clients at once: each runs the real sfcctl in a loop, applying,
// editing (firewall rules, load balancer backends) and deleting chains on a
// few interfaces. Afterwards the pins under sfcd's bpffs root match what the
// API reports, and once every chain is deleted sfcd holds no more fds,
// threads or XDP attachments than before the clients started.
//
//   SFC_CONCURRENT_SECONDS   how long the clients run (default 45; make stress: 300)
//   SFC_SEED                 the clients' random seed (printed)
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kClients = 50;
constexpr int kChains = 4;  // one per VM interface eth0..eth3
// gRPC's sync server keeps up to a few idle threads per completion queue
// after a burst; sfcd's own threads must all be gone.
constexpr int kThreadSlack = 8;
constexpr int kFdSlack = 4;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

size_t CountEntries(const std::string& dir) {
  std::error_code ec;
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); ++it) ++n;
  return n;
}

enum Op { kApply, kDelete, kAddRule, kDeleteRule, kAddBackend, kRemoveBackend, kList, kOps };
constexpr const char* kOpNames[kOps] = {"apply",          "delete",         "fw add-rule",
                                        "fw delete-rule", "lb add-backend", "lb remove-backend",
                                        "get chains"};

struct Tally {
  std::atomic<int> ok[kOps] = {}, refused{0}, timed_out{0};
  int total_ok() const {
    int n = 0;
    for (const auto& o : ok) n += o.load();
    return n;
  }
};

class ConcurrentE2E : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sfcd_.Start()) << sfcd_.log(); }

  std::string ChainName(int i) const { return "cc" + std::to_string(i); }

  // A firewall and a load balancer on interface eth<i>.
  std::string ChainJson(int i) const {
    const std::string net = std::to_string(topo_.net());
    json fw = {{"default", "allow"},
               {"rules", {{{"id", "base"}, {"proto", "udp"}, {"dport", 9}, {"action", "drop"}}}}};
    json lb = {{"services",
                {{{"name", "web"},
                  {"vip", "10." + net + ".99." + std::to_string(i + 1)},
                  {"port", 80},
                  {"table_size", 251},
                  {"backends", {{{"address", topo_.server_ip(1)}, {"port", 8080}}}}}}}};
    return json{{"name", ChainName(i)},
                {"interfaces", {{{"name", "eth" + std::to_string(i)}, {"mode", "generic"}}}},
                {"vnfs",
                 {{{"name", "fw"}, {"type", "firewall"}, {"config", fw}},
                  {{"name", "lb"}, {"type", "loadbalancer"}, {"config", lb}}}},
                {"egress", {{"action", "pass"}}}}
        .dump();
  }

  // One client: random operations until `deadline`.
  void Client(int id, uint32_t seed, std::chrono::steady_clock::time_point deadline, Tally* tally) {
    std::mt19937 rng(seed + id);
    const std::string net = std::to_string(topo_.net());
    int serial = 0;
    // What this client added last, so its deletes mostly find something.
    std::vector<std::pair<int, std::string>> rules, backends;
    while (std::chrono::steady_clock::now() < deadline) {
      int c = static_cast<int>(rng() % kChains);
      const int op = static_cast<int>(rng() % 100);
      const std::string backend = "10." + net + ".200." + std::to_string(1 + id);
      CommandResult r;
      Op kind;
      if (op < 6) {
        kind = kApply, r = sfcd_.Apply(ChainJson(c));
      } else if (op < 9) {
        kind = kDelete, r = sfcd_.Ctl("delete chain " + ChainName(c));
      } else if (op < 60 && (op < 35 || rules.empty())) {
        const std::string rule = "r" + std::to_string(id) + "-" + std::to_string(serial++);
        kind = kAddRule,
        r = sfcd_.Ctl("fw add-rule " + ChainName(c) + " fw --id " + rule + " --proto tcp --dport " +
                      std::to_string(1000 + id) + " --action drop");
        if (r.exit_code == 0) rules.emplace_back(c, rule);
      } else if (op < 60) {
        auto [rc, rule] = rules.back();
        rules.pop_back();
        kind = kDeleteRule, r = sfcd_.Ctl("fw delete-rule " + ChainName(rc) + " fw " + rule);
      } else if (op < 92 && (op < 76 || backends.empty())) {
        const std::string port = std::to_string(8000 + serial++ % 1000);
        kind = kAddBackend,
        r = sfcd_.Ctl("lb add-backend " + ChainName(c) + " lb web " + backend + " --port " + port);
        if (r.exit_code == 0) backends.emplace_back(c, port);
      } else if (op < 92) {
        auto [bc, port] = backends.back();
        backends.pop_back();
        kind = kRemoveBackend, r = sfcd_.Ctl("lb remove-backend " + ChainName(bc) + " lb web " +
                                             backend + " --port " + port);
      } else {
        kind = kList, r = sfcd_.Ctl("get chains");
      }
      if (r.exit_code == 0) {
        ++tally->ok[kind];
      } else if (r.exit_code == 124) {
        ++tally->timed_out;  // timeout(1): a stuck call
        ADD_FAILURE() << "client " << id << " timed out: " << r.output;
      } else {
        ++tally->refused;  // e.g. the chain was just deleted by another client
      }
    }
  }

  // Every chain the API reports has its pins; nothing else is pinned or
  // stored: no staging generations, no leftovers of deleted chains.
  // `*chains`: how many the API reports.
  void ExpectPinsMatchApi(int* chains) {
    CommandResult r = sfcd_.Ctl("get chains -o json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    json listing = json::parse(r.output);
    std::set<std::string> api;
    for (const auto& c : listing.value("chains", json::array())) {
      const std::string name = c["spec"]["name"].get<std::string>();
      api.insert(name);
      EXPECT_TRUE(fs::is_directory(c["pin_dir"].get<std::string>())) << name;
      for (const auto& v : c["vnfs"])
        EXPECT_TRUE(fs::is_directory(v["pin_dir"].get<std::string>()))
            << name << "/" << v["name"].get<std::string>();
      EXPECT_TRUE(fs::exists(sfcd_.state_dir() + "/chains/" + name + ".json")) << name;
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(sfcd_.root(), ec))
      EXPECT_TRUE(api.count(e.path().filename().string()))
          << "pins of a chain the API does not report: " << e.path();
    for (auto it = fs::recursive_directory_iterator(sfcd_.root(), ec);
         !ec && it != fs::recursive_directory_iterator(); ++it)
      EXPECT_NE(it->path().filename().string().rfind("_gen", 0), 0u)
          << "staging generation left behind: " << it->path();
    for (const auto& e : fs::directory_iterator(sfcd_.state_dir() + "/chains", ec))
      EXPECT_TRUE(api.count(e.path().stem().string()))
          << "state of a chain the API does not report: " << e.path();
    std::printf("chains after the run: %zu\n", api.size());
    *chains = static_cast<int>(api.size());
  }

  // XDP programs attached to the VM's interfaces.
  int XdpAttachments() {
    CommandResult r = topo_.InVm("ip -o link show | grep -c ' prog/xdp id\\|xdpgeneric\\|xdp '");
    return std::atoi(r.output.c_str());
  }

  size_t Fds() { return CountEntries("/proc/" + std::to_string(sfcd_.pid()) + "/fd"); }
  size_t Threads() { return CountEntries("/proc/" + std::to_string(sfcd_.pid()) + "/task"); }

  Topology topo_{kChains - 1};
  Sfcd sfcd_{topo_};
};

TEST_F(ConcurrentE2E, FiftyClientsLeaveConsistentPinsAndNoLeaks) {
  const int seconds = EnvInt("SFC_CONCURRENT_SECONDS", 45);
  const uint32_t seed = static_cast<uint32_t>(EnvInt("SFC_SEED", std::random_device{}() & 0xffff));
  std::printf("SFC_SEED=%u, %d clients for %d s\n", seed, kClients, seconds);

  // Baseline after one full apply/delete cycle, so lazily started threads
  // (gRPC's pollers, first-use library state) are counted in it.
  ASSERT_EQ(sfcd_.Apply(ChainJson(0)).exit_code, 0) << sfcd_.log();
  ASSERT_EQ(sfcd_.Ctl("delete chain " + ChainName(0)).exit_code, 0);
  const size_t fds_before = Fds(), threads_before = Threads();
  const int xdp_before = XdpAttachments();

  Tally tally;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back([&, i] { Client(i, seed, deadline, &tally); });
  for (auto& t : clients) t.join();
  std::printf("operations: %d succeeded, %d refused, %d timed out\n", tally.total_ok(),
              tally.refused.load(), tally.timed_out.load());
  ASSERT_EQ(sfcd_.Ctl("get chains").exit_code, 0) << "sfcd died:\n" << sfcd_.log();
  // Refusals are expected (another client deleted the chain first). But
  // every kind of change must have gone through, or the mix was not tested;
  // deletes of each kind depend on an earlier add by the same client, so
  // under a slow, busy sfcd only their sum is required.
  for (int k = 0; k < kOps; ++k)
    std::printf("  %-18s %d succeeded\n", kOpNames[k], tally.ok[k].load());
  for (Op k : {kApply, kAddRule, kAddBackend, kList})
    EXPECT_GT(tally.ok[k].load(), 0) << kOpNames[k] << " never succeeded";
  EXPECT_GT(tally.ok[kDelete] + tally.ok[kDeleteRule] + tally.ok[kRemoveBackend], 0)
      << "no delete of any kind succeeded";

  int chains = 0;
  ExpectPinsMatchApi(&chains);
  // One interface per chain: the count below would see a detach that failed.
  EXPECT_EQ(XdpAttachments(), xdp_before + chains);

  for (int i = 0; i < kChains; ++i) sfcd_.Ctl("delete chain " + ChainName(i));
  EXPECT_EQ(CountEntries(sfcd_.root()), 0u) << "pins left after deleting every chain";
  EXPECT_EQ(CountEntries(sfcd_.state_dir() + "/chains"), 0u);
  // Threads of finished calls and stopped health checkers exit
  // asynchronously: give them a moment.
  size_t fds_after = Fds(), threads_after = Threads();
  for (int i = 0; i < 50 && (fds_after > fds_before + kFdSlack ||
                             threads_after > threads_before + kThreadSlack);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    fds_after = Fds(), threads_after = Threads();
  }
  std::printf("fds %zu -> %zu, threads %zu -> %zu, xdp attachments %d -> %d\n", fds_before,
              fds_after, threads_before, threads_after, xdp_before, XdpAttachments());
  EXPECT_LE(fds_after, fds_before + kFdSlack)
      << Sh("ls -l /proc/" + std::to_string(sfcd_.pid()) +
            "/fd | awk 'NR > 1 {print $NF}' | sed 's/[0-9]\\+/N/g' | sort | uniq -c")
             .output;
  EXPECT_LE(threads_after, threads_before + kThreadSlack);
  EXPECT_EQ(XdpAttachments(), xdp_before);
}

}  // namespace
}  // namespace sfc::test
