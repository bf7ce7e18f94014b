// The chain engine as packets see it: tail calls through every slot, the fail
// policy of a missed tail call, and Apply of an edited chain keeping what it
// should keep.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <filesystem>

#include "engine/bpf_util.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

std::string Chain(int noops, const std::string& extra = "") {
  std::string vnfs;
  for (int i = 0; i < noops; ++i)
    vnfs += (i ? "," : "") + std::string(R"({"name": "n)") + std::to_string(i) +
            R"(", "type": "noop"})";
  return R"({"name": "ch", "interfaces": ["lo"], "vnfs": [)" + vnfs + "]" + extra + "}";
}

const Bytes kFrame = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 80).Payload(20).Build();

uint64_t Vnf(LoadedChain& c, const std::string& vnf, const char* counter) {
  auto v = c.VnfCounter(vnf, counter);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : ~0ull;
}
uint64_t ChainCtr(LoadedChain& c, const char* counter) {
  auto v = c.ChainCounter(counter);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : ~0ull;
}

TEST(Chain, EmptyChainRunsEgress) {
  auto c = LoadedChain::Load(Chain(0));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto run = (*c)->Run(kFrame);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);
  EXPECT_EQ(ChainCtr(**c, "egress_pass"), 1u);
}

TEST(Chain, LongestChainVisitsEveryVnf) {
  auto c = LoadedChain::Load(Chain(SFC_MAX_VNFS));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto run = (*c)->Run(kFrame);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);
  for (int i = 0; i < SFC_MAX_VNFS; ++i)
    EXPECT_EQ(Vnf(**c, "n" + std::to_string(i), "pass"), 1u) << i;
  EXPECT_EQ(ChainCtr(**c, "tail_call_miss"), 0u);
  EXPECT_EQ(ChainCtr(**c, "egress_pass"), 1u);
}

// An emptied slot must not let packets skip the rest of the chain.
TEST(Chain, MissedTailCallFollowsFailPolicy) {
  for (const char* policy : {"drop", "pass"}) {
    auto c = LoadedChain::Load(Chain(3, std::string(R"(, "fail_policy": ")") + policy + "\""));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto progs = OpenPinned((*c)->engine().pins().Progs("ch"));
    ASSERT_TRUE(progs.ok());
    uint32_t slot = 1;
    ASSERT_EQ(bpf_map_delete_elem(progs->get(), &slot), 0);
    auto run = (*c)->Run(kFrame);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->action, std::string(policy) == "drop" ? XDP_DROP : XDP_PASS) << policy;
    EXPECT_EQ(Vnf(**c, "n0", "aborted"), 1u);
    EXPECT_EQ(Vnf(**c, "n2", "rx_packets"), 0u);
    EXPECT_EQ(ChainCtr(**c, "tail_call_miss"), 1u);
    EXPECT_EQ(ChainCtr(**c, std::string(policy) == "drop" ? "fail_drop" : "fail_pass"), 1u);
  }
}

TEST(Chain, ReapplyKeepsStateOfStayingVnfsAndDropsRemovedOnes) {
  auto c = LoadedChain::Load(Chain(3));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  LoadedChain& chain = **c;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(chain.Run(kFrame).ok());
  const std::string removed_dir = chain.engine().pins().VnfDir("ch", "n2");
  ASSERT_TRUE(std::filesystem::exists(removed_dir));

  // n2 goes away, n5 arrives; n0 and n1 stay.
  ASSERT_TRUE(chain
                  .Reapply(R"({"name": "ch", "interfaces": ["lo"], "vnfs": [
      {"name": "n0", "type": "noop"}, {"name": "n5", "type": "noop"}, {"name": "n1", "type": "noop"}]})")
                  .ok());
  ASSERT_TRUE(chain.Run(kFrame).ok());
  EXPECT_EQ(Vnf(chain, "n0", "rx_packets"), 6u);
  EXPECT_EQ(Vnf(chain, "n1", "rx_packets"), 6u);
  EXPECT_EQ(Vnf(chain, "n5", "rx_packets"), 1u);
  EXPECT_FALSE(std::filesystem::exists(removed_dir));
  EXPECT_EQ(ChainCtr(chain, "rx_packets"), 6u);
  auto info = chain.engine().Get("ch");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->generation, 2u);
  ASSERT_EQ(info->vnfs.size(), 3u);
  EXPECT_EQ(info->vnfs[1].name, "n5");
  EXPECT_NE(info->vnfs[1].prog_id, 0u);
}

TEST(Chain, ReapplyOfSameSpecChangesNothing) {
  auto c = LoadedChain::Load(Chain(2));
  ASSERT_TRUE(c.ok());
  bool changed = true;
  auto spec = ParseChainSpecText(Chain(2), (*c)->engine().registry());
  ASSERT_TRUE(spec.ok());
  auto info = (*c)->engine().Apply(*spec, false, &changed);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(changed);
  EXPECT_EQ(info->generation, 1u);
}

TEST(Chain, DryRunPinsNothing) {
  auto c = LoadedChain::Load(Chain(1));
  ASSERT_TRUE(c.ok());
  auto spec = ParseChainSpecText(
      R"({"name": "other", "interfaces": ["lo"], "vnfs": [{"name": "a", "type": "noop"}]})",
      (*c)->engine().registry());
  ASSERT_TRUE(spec.ok());
  bool changed = true;
  auto info = (*c)->engine().Apply(*spec, true, &changed);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_FALSE(changed);
  EXPECT_FALSE(std::filesystem::exists((*c)->engine().pins().ChainDir("other")));
  EXPECT_FALSE((*c)->engine().Get("other").ok());
}

// Plausible: more than nothing, less than 100 us a packet (a VNF that added
// absolute clock values would be off by days).
TEST(Chain, TimingAccountsRunTime) {
  auto c = LoadedChain::Load(Chain(2, R"(, "timing": true)"));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Run(kFrame, 1, 100).ok());
  for (const char* vnf : {"n0", "n1"}) {
    EXPECT_GT(Vnf(**c, vnf, "run_ns"), 0u) << vnf;
    EXPECT_LT(Vnf(**c, vnf, "run_ns") / 100, 100000u) << vnf;
  }
}

// Every slot of a timed chain gets one histogram sample per packet, in
// buckets consistent with the run_ns the same packets added up to.
TEST(Chain, TimedChainFillsLatencyHistogramOfEverySlot) {
  constexpr int kVnfs = 3;
  constexpr uint32_t kPackets = 100;
  auto c = LoadedChain::Load(Chain(kVnfs, R"(, "timing": true)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(std::filesystem::exists((*c)->engine().pins().Latency("ch")));
  ASSERT_TRUE((*c)->Run(kFrame, 1, kPackets).ok());
  auto counters = (*c)->engine().Counters("ch", "", /*latency=*/true);
  ASSERT_TRUE(counters.ok()) << counters.status().ToString();
  EXPECT_TRUE(counters->timing);
  ASSERT_EQ(counters->vnfs.size(), size_t{kVnfs});
  for (const auto& v : counters->vnfs) {
    ASSERT_TRUE(v.latency.has_value()) << v.name;
    EXPECT_EQ(v.latency->count(), kPackets) << v.name;
    uint64_t low = 0, high = 0;
    for (int b = 0; b < LatencyHistogram::kBuckets; ++b) {
      low += v.latency->buckets()[b] * LatencyHistogram::LowerNs(b);
      high += v.latency->buckets()[b] * (LatencyHistogram::UpperNs(b) - 1);
    }
    uint64_t run_ns = Vnf(**c, v.name, "run_ns");
    EXPECT_LE(low, run_ns) << v.name;
    EXPECT_GE(high, run_ns) << v.name;
    EXPECT_GT(v.latency->QuantileNs(0.5), 0u) << v.name;
  }
}

TEST(Chain, UntimedChainRecordsNoLatency) {
  auto c = LoadedChain::Load(Chain(2));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Run(kFrame, 1, 50).ok());
  auto counters = (*c)->engine().Counters("ch", "", /*latency=*/true);
  ASSERT_TRUE(counters.ok()) << counters.status().ToString();
  EXPECT_FALSE(counters->timing);
  for (const auto& v : counters->vnfs) {
    EXPECT_EQ(Vnf(**c, v.name, "rx_packets"), 50u) << v.name;
    ASSERT_TRUE(v.latency.has_value()) << v.name;
    EXPECT_EQ(v.latency->count(), 0u) << v.name;
  }
}

// Histograms are per slot: a re-apply that keeps every VNF in its slot keeps
// them, one that moves VNFs starts fresh ones rather than misattribute.
TEST(Chain, LatencyHistogramsFollowSlots) {
  auto c = LoadedChain::Load(Chain(2, R"(, "timing": true)"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE((*c)->Run(kFrame, 1, 10).ok());
  auto count = [&](const std::string& vnf) -> uint64_t {
    auto r = (*c)->engine().Counters("ch", vnf, true);
    EXPECT_TRUE(r.ok() && r->vnfs.size() == 1 && r->vnfs[0].latency);
    return r.ok() && !r->vnfs.empty() && r->vnfs[0].latency ? r->vnfs[0].latency->count() : ~0ull;
  };
  // Same slots, fail policy changed: a new generation, same histograms.
  ASSERT_TRUE((*c)->Reapply(Chain(2, R"(, "timing": true, "fail_policy": "pass")")).ok());
  ASSERT_TRUE((*c)->Run(kFrame, 1, 5).ok());
  EXPECT_EQ(count("n0"), 15u);
  EXPECT_EQ(count("n1"), 15u);
  // n1 moves to slot 0.
  ASSERT_TRUE((*c)->Reapply(R"({"name": "ch", "interfaces": ["lo"], "timing": true,
      "vnfs": [{"name": "n1", "type": "noop"}, {"name": "n0", "type": "noop"}]})")
                  .ok());
  ASSERT_TRUE((*c)->Run(kFrame, 1, 3).ok());
  EXPECT_EQ(count("n0"), 3u);
  EXPECT_EQ(count("n1"), 3u);
}

TEST(Chain, DeleteRemovesEveryPin) {
  std::string dir;
  {
    auto c = LoadedChain::Load(Chain(2));
    ASSERT_TRUE(c.ok());
    dir = (*c)->engine().pins().ChainDir("ch");
    ASSERT_TRUE(std::filesystem::exists(dir + "/n0/stats"));
    ASSERT_TRUE((*c)->engine().Delete("ch").ok());
    EXPECT_FALSE(std::filesystem::exists(dir));
    EXPECT_EQ((*c)->engine().Delete("ch").code(), Code::kNotFound);
  }
}

}  // namespace
}  // namespace sfc::test
