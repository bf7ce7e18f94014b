// Optimistic concurrency for orchestrators with several replicas: Apply and
// Delete with an expected generation. Two real sfcctl clients race to edit
// the same chain from the same generation; exactly one wins, the other is
// refused with a message naming both generations, and the chain runs the
// winner's spec.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;

constexpr int kPadding = 5000;

class GenerationE2E : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(sfcd_.Start()) << sfcd_.log(); }

  // A firewall whose first rule drops UDP to `port`: each port is another
  // spec. `padding` more rules make parsing and the Apply slow (rule tables
  // to fill), so that a check made anywhere outside the lock that holds the
  // whole Apply (e.g. in the API layer before parsing) would let both pass.
  static std::string ChainJson(int port, int padding = 0) {
    json rules = {{{"id", "r"}, {"proto", "udp"}, {"dport", port}, {"action", "drop"}}};
    for (int i = 0; i < padding; ++i)
      rules.push_back(
          {{"id", "p" + std::to_string(i)},
           {"dst", "10.250." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)},
           {"proto", "tcp"},
           {"dport", 1},
           {"action", "drop"}});
    json fw = {{"default", "allow"}, {"rules", rules}};
    return json{{"name", "gen"},
                {"interfaces", {{{"name", "eth0"}, {"mode", "generic"}}}},
                {"vnfs", {{{"name", "fw"}, {"type", "firewall"}, {"config", fw}}}},
                {"egress", {{"action", "pass"}}}}
        .dump();
  }

  // Proto JSON prints 64-bit integers as strings.
  uint64_t Generation() {
    json g = sfcd_.CtlJson("describe chain gen").value("generation", json("0"));
    return g.is_string() ? std::stoull(g.get<std::string>()) : g.get<uint64_t>();
  }

  int RulePort() {
    json c = sfcd_.CtlJson("describe chain gen");
    return c["spec"]["vnfs"][0]["config"]["rules"][0]["dport"].get<int>();
  }

  Topology topo_{1};
  Sfcd sfcd_{topo_};
};

TEST_F(GenerationE2E, TwoConcurrentAppliesFromTheSameGenerationOneWins) {
  ASSERT_EQ(sfcd_.Apply(ChainJson(1000), "--expect-generation 0").exit_code, 0) << sfcd_.log();
  // Creating it again "from nothing" is stale now.
  CommandResult again = sfcd_.Apply(ChainJson(1000), "--expect-generation 0");
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find("is at generation 1, not the expected generation 0"),
            std::string::npos)
      << again.output;

  for (int round = 0; round < 5; ++round) {
    const uint64_t gen = Generation();
    const int port_a = 2000 + 2 * round, port_b = port_a + 1;
    CommandResult a, b;
    std::thread ta([&] {
      a = sfcd_.Apply(ChainJson(port_a, kPadding), "--expect-generation " + std::to_string(gen));
    });
    std::thread tb([&] {
      b = sfcd_.Apply(ChainJson(port_b, kPadding), "--expect-generation " + std::to_string(gen));
    });
    ta.join();
    tb.join();
    SCOPED_TRACE("round " + std::to_string(round) + "\nA: " + a.output + "\nB: " + b.output);
    ASSERT_EQ((a.exit_code == 0) + (b.exit_code == 0), 1);
    const CommandResult& loser = a.exit_code == 0 ? b : a;
    EXPECT_EQ(loser.exit_code, 1);
    EXPECT_NE(loser.output.find("expected_generation: chain \"gen\" is at generation " +
                                std::to_string(gen + 1) + ", not the expected generation " +
                                std::to_string(gen)),
              std::string::npos);
    EXPECT_EQ(Generation(), gen + 1);
    EXPECT_EQ(RulePort(), a.exit_code == 0 ? port_a : port_b);
  }

  // Without an expectation Apply stays last-writer-wins.
  const uint64_t gen = Generation();
  ASSERT_EQ(sfcd_.Apply(ChainJson(3000)).exit_code, 0);
  EXPECT_EQ(Generation(), gen + 1);
}

TEST_F(GenerationE2E, DeleteRefusesAStaleGeneration) {
  ASSERT_EQ(sfcd_.Apply(ChainJson(1000)).exit_code, 0) << sfcd_.log();
  ASSERT_EQ(sfcd_.Apply(ChainJson(1001)).exit_code, 0);
  ASSERT_EQ(Generation(), 2u);

  CommandResult stale = sfcd_.Ctl("delete chain gen --expect-generation 1");
  EXPECT_EQ(stale.exit_code, 1) << stale.output;
  EXPECT_NE(stale.output.find("is at generation 2, not the expected generation 1"),
            std::string::npos)
      << stale.output;
  EXPECT_EQ(Generation(), 2u);  // still there

  CommandResult bad = sfcd_.Ctl("delete chain gen --expect-generation two");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--expect-generation: \"two\" is not a generation number"),
            std::string::npos)
      << bad.output;

  CommandResult ok = sfcd_.Ctl("delete chain gen --expect-generation 2");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  CommandResult gone = sfcd_.Ctl("delete chain gen --expect-generation 2");
  EXPECT_EQ(gone.exit_code, 1) << gone.output;
  EXPECT_NE(gone.output.find("no chain \"gen\""), std::string::npos) << gone.output;
}

}  // namespace
}  // namespace sfc::test
