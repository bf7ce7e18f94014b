// Apply is all or nothing: a failure at any step after the new generation is
// prepared — saving the spec, the switch, moving pins — leaves packets, pins,
// counters and the saved spec exactly as they were. Faults are injected with
// failpoints (common/failpoint.h) at every step.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/failpoint.h"
#include "engine/bpf_util.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

namespace fs = std::filesystem;

// Before: a firewall that allows everything by rule "all". After: a noop in
// front of it, and the firewall dropping UDP by a new rule "no-udp".
constexpr const char* kBefore = R"({"name": "ap", "interfaces": ["lo"], "vnfs": [
    {"name": "fw", "type": "firewall", "config": {"default": "drop", "rules": [
      {"id": "all", "action": "allow"}]}}]})";
constexpr const char* kAfter =
    R"({"name": "ap", "interfaces": ["lo"], "fail_policy": "pass", "timing": true,
  "vnfs": [
    {"name": "n0", "type": "noop"},
    {"name": "fw", "type": "firewall", "config": {"default": "drop", "rules": [
      {"id": "no-udp", "proto": "udp", "action": "drop"},
      {"id": "all", "action": "allow"}]}}]})";

const Bytes kUdp = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1000, 53).Payload(20).Build();

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every pin below the chain directory, with the kernel id of what it pins,
// so that "the same pins" means the same objects, not only the same names.
std::set<std::string> PinSnapshot(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_directory()) continue;
    std::string id = "?";
    if (auto fd = OpenPinned(e.path()); fd.ok()) {
      if (auto m = MapInfo(fd->get()); m.ok())
        id = "map" + std::to_string(m->id);
      else if (auto p = ProgInfo(fd->get()); p.ok())
        id = "prog" + std::to_string(p->id);
    }
    out.insert(e.path().string() + "=" + id);
  }
  return out;
}

class ApplyFailure : public ::testing::TestWithParam<std::string> {
 protected:
  void TearDown() override { failpoint::DisarmAll(); }
};

TEST_P(ApplyFailure, LeavesTheRunningChainExactlyAsItWas) {
  auto c = LoadedChain::Load(kBefore);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  LoadedChain& chain = **c;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(chain.Run(kUdp)->action, XDP_PASS);

  const std::string dir = chain.engine().pins().ChainDir("ap");
  const std::string state = chain.state_dir() + "/chains/ap.json";
  const auto pins_before = PinSnapshot(dir);
  const std::string saved_before = ReadFile(state);

  std::string point = GetParam();
  unsigned nth = 0;
  if (auto at = point.find('@'); at != std::string::npos) {
    nth = std::stoul(point.substr(at + 1));
    point = point.substr(0, at);
  }
  failpoint::Arm(point, failpoint::Action::kError, nth);
  Status st = chain.Reapply(kAfter);
  failpoint::DisarmAll();
  ASSERT_FALSE(st.ok()) << "the failpoint " << GetParam() << " was never reached";
  EXPECT_NE(st.message().find("failpoint"), std::string::npos) << st.ToString();

  // Packets: the old chain (UDP allowed by "all"), timing and fail policy as before.
  auto run = chain.Run(kUdp);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);
  EXPECT_EQ(*chain.VnfCounter("fw", "rx_packets"), 4u);
  EXPECT_EQ(*chain.VnfCounter("fw", "run_ns"), 0u);
  EXPECT_EQ(*chain.ChainCounter("rx_packets"), 4u);
  // State: pins (same objects), saved spec, generation, no staging left.
  EXPECT_EQ(PinSnapshot(dir), pins_before);
  EXPECT_EQ(ReadFile(state), saved_before);
  auto info = chain.engine().Get("ap");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->generation, 1u);
  ASSERT_EQ(info->vnfs.size(), 1u);
  // The rule counters and their owners: "all" counted every packet, and the
  // slot the failed apply gave to "no-udp" is free again.
  auto ids = chain.OpenMap("fw", "rule_ids");
  ASSERT_TRUE(ids.ok());
  int owned = 0;
  for (uint32_t slot = 0; slot < 64; ++slot) {
    char id[64] = {};
    if (bpf_map_lookup_elem(ids->get(), &slot, id) == 0 && id[0]) ++owned;
  }
  EXPECT_EQ(owned, 1);

  // And the same edit applies cleanly afterwards.
  ASSERT_TRUE(chain.Reapply(kAfter).ok());
  EXPECT_EQ(chain.Run(kUdp)->action, XDP_DROP);
  EXPECT_EQ(chain.engine().Get("ap")->generation, 2u);
}

INSTANTIATE_TEST_SUITE_P(EveryStep, ApplyFailure,
                         ::testing::Values("apply.save", "apply.before_switch",
                                           "apply.after_switch", "apply.commit", "apply.pin_move@1",
                                           "apply.pin_move@3", "apply.after_commit"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// A new chain whose Apply fails leaves nothing: no pins, no saved spec.
TEST(ApplyFailureNewChain, LeavesNothingBehind) {
  auto c = LoadedChain::Load(kBefore);
  ASSERT_TRUE(c.ok());
  auto spec = ParseChainSpecText(
      R"({"name": "other", "interfaces": ["lo"], "vnfs": [{"name": "a", "type": "noop"}]})",
      (*c)->engine().registry());
  ASSERT_TRUE(spec.ok());
  for (const char* point : {"apply.save", "apply.after_switch", "apply.after_commit"}) {
    failpoint::Arm(point, failpoint::Action::kError);
    bool changed = true;
    auto info = (*c)->engine().Apply(*spec, false, &changed);
    failpoint::DisarmAll();
    EXPECT_FALSE(info.ok()) << point;
    EXPECT_FALSE(changed);
    EXPECT_FALSE(fs::exists((*c)->engine().pins().ChainDir("other"))) << point;
    EXPECT_FALSE(fs::exists((*c)->state_dir() + "/chains/other.json")) << point;
    EXPECT_FALSE((*c)->engine().Get("other").ok()) << point;
  }
}

// Per-VNF timing switched on by a re-apply: the entry program is not
// reloaded, so it must learn about timing from the chain config, or VNF 0
// adds the absolute time since boot to run_ns.
TEST(ApplyTiming, TurnedOnByReapplyIsPlausible) {
  auto c = LoadedChain::Load(R"({"name": "tm", "interfaces": ["lo"], "vnfs": [
      {"name": "n0", "type": "noop"}, {"name": "n1", "type": "noop"}]})");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Run(kUdp).ok());
  ASSERT_TRUE((*c)->Reapply(R"({"name": "tm", "interfaces": ["lo"], "timing": true, "vnfs": [
      {"name": "n0", "type": "noop"}, {"name": "n1", "type": "noop"}]})")
                  .ok());
  ASSERT_TRUE((*c)->Run(kUdp, 1, 1000).ok());
  for (const char* vnf : {"n0", "n1"}) {
    uint64_t ns = *(*c)->VnfCounter(vnf, "run_ns");
    uint64_t timed = *(*c)->VnfCounter(vnf, "rx_packets") - 1;  // the packet before timing
    ASSERT_EQ(timed, 1000u);
    EXPECT_GT(ns, 0u) << vnf;
    EXPECT_LT(ns / timed, 100000u) << vnf << ": " << ns << " ns over " << timed << " packets";
  }
  // ... and off again: no more time accounted.
  ASSERT_TRUE((*c)->Reapply(R"({"name": "tm", "interfaces": ["lo"], "vnfs": [
      {"name": "n0", "type": "noop"}, {"name": "n1", "type": "noop"}]})")
                  .ok());
  uint64_t before = *(*c)->VnfCounter("n0", "run_ns");
  ASSERT_TRUE((*c)->Run(kUdp, 1, 100).ok());
  EXPECT_EQ(*(*c)->VnfCounter("n0", "run_ns"), before);
}

// A re-apply that changes the fail policy changes what the entry does when
// the root slot is empty.
TEST(ApplyFailPolicy, ReapplyReachesTheEntry) {
  auto c = LoadedChain::Load(
      R"({"name": "fp", "interfaces": ["lo"], "vnfs": [{"name": "n0", "type": "noop"}]})");
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Reapply(R"({"name": "fp", "interfaces": ["lo"], "fail_policy": "pass",
      "vnfs": [{"name": "n0", "type": "noop"}]})")
                  .ok());
  auto root = OpenPinned((*c)->engine().pins().Root("fp"));
  ASSERT_TRUE(root.ok());
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_delete_elem(root->get(), &zero), 0);
  EXPECT_EQ((*c)->Run(kUdp)->action, XDP_PASS);
  EXPECT_EQ(*(*c)->ChainCounter("fail_pass"), 1u);
}

}  // namespace
}  // namespace sfc::test
