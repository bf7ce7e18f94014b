// Every egress action's verdict and rewritten bytes. The fib cases build a
// small routed network in a private network namespace of the test process.
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <net/if.h>

#include <string>

#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

std::string Chain(const std::string& egress) {
  return R"({"name": "eg", "interfaces": ["lo"], "vnfs": [{"name": "n", "type": "noop"}],
             "egress": )" +
         egress + "}";
}

std::unique_ptr<LoadedChain> MustLoad(const std::string& spec) {
  auto c = LoadedChain::Load(spec);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

uint64_t ChainCounter(LoadedChain& c, const char* name) {
  auto v = c.ChainCounter(name);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : ~0ull;
}

const Bytes kFrame = PacketBuilder()
                         .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                         .Ipv4("10.9.1.2", "10.9.2.2", 64)
                         .Udp(1000, 2000)
                         .Payload(18)
                         .Build();

TEST(Egress, PassHandsToKernelUnchanged) {
  auto c = MustLoad(Chain(R"({"action": "pass"})"));
  ASSERT_TRUE(c);
  auto run = c->Run(kFrame);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);
  EXPECT_EQ(run->out, kFrame);
  EXPECT_EQ(ChainCounter(*c, "egress_pass"), 1u);
}

TEST(Egress, TxSwapsMacs) {
  auto c = MustLoad(Chain(R"({"action": "tx"})"));
  ASSERT_TRUE(c);
  auto run = c->Run(kFrame);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_TX);
  EXPECT_EQ(MacString(&run->out[0]), "02:00:00:00:00:01");
  EXPECT_EQ(MacString(&run->out[6]), "02:00:00:00:00:02");
  EXPECT_TRUE(std::equal(kFrame.begin() + 12, kFrame.end(), run->out.begin() + 12));
  EXPECT_EQ(ChainCounter(*c, "egress_tx"), 1u);
}

TEST(Egress, RedirectToNamedPort) {
  auto c = MustLoad(Chain(R"({"action": "redirect", "port": "lo"})"));
  ASSERT_TRUE(c);
  auto run = c->Run(kFrame);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_REDIRECT);
  EXPECT_EQ(ChainCounter(*c, "egress_redirect"), 1u);
}

TEST(Egress, RedirectToMissingPortIsRejected) {
  auto c = LoadedChain::Load(Chain(R"({"action": "redirect", "port": "nosuchif0"})"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/egress/port"), std::string::npos) << c.status().ToString();
}

// The routed network of EnterRoutedTestNetwork().
class FibEgress : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(EnterRoutedTestNetwork()); }
  void SetUp() override {
    chain_ = MustLoad(Chain(R"({"action": "fib"})"));
    ASSERT_TRUE(chain_);
    in_ = if_nametoindex("in0");
    out_ = if_nametoindex("out0");
    ASSERT_NE(in_, 0u);
  }
  std::unique_ptr<LoadedChain> chain_;
  uint32_t in_ = 0, out_ = 0;
};

TEST_F(FibEgress, RoutesRewritesMacsAndDecrementsTtl) {
  auto run = chain_->Run(kFrame, in_);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_REDIRECT);
  EXPECT_EQ(MacString(&run->out[0]), "02:00:00:00:02:02");  // the neighbour
  EXPECT_EQ(MacString(&run->out[6]), "02:00:00:00:02:01");  // out0
  EXPECT_EQ(run->out[14 + 8], 63);                          // TTL
  FrameInfo info = CheckFrame(run->out);
  ASSERT_TRUE(info.ok) << info.error;
  EXPECT_TRUE(info.l3_csum_ok);
  EXPECT_TRUE(info.l4_csum_ok);
  EXPECT_EQ(ChainCounter(*chain_, "egress_redirect"), 1u);
}

TEST_F(FibEgress, RoutesIpv6AndDecrementsHopLimit) {
  Bytes f = PacketBuilder().Ipv6("fd00:9:1::2", "fd00:9:2::2", 9).Tcp(1, 2).Build();
  auto run = chain_->Run(f, in_);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_REDIRECT);
  EXPECT_EQ(MacString(&run->out[0]), "02:00:00:00:02:02");
  EXPECT_EQ(run->out[14 + 7], 8);
  EXPECT_TRUE(CheckFrame(run->out).l4_csum_ok);
}

TEST_F(FibEgress, TtlChecksumCornerCases) {
  // The incremental update must hold for every TTL, including the wrap of
  // the high byte into the checksum's carry.
  for (int ttl = 2; ttl <= 255; ++ttl) {
    Bytes f = PacketBuilder().Ipv4("10.9.1.2", "10.9.2.2", ttl).Udp(ttl, 7).Build();
    auto run = chain_->Run(f, in_);
    ASSERT_TRUE(run.ok());
    ASSERT_EQ(run->action, XDP_REDIRECT);
    ASSERT_EQ(run->out[14 + 8], ttl - 1);
    ASSERT_TRUE(CheckFrame(run->out).l3_csum_ok) << "ttl " << ttl;
  }
}

TEST_F(FibEgress, NoNeighbourPassesToKernel) {
  Bytes f = PacketBuilder().Ipv4("10.9.1.2", "10.9.2.3").Udp(1, 2).Build();
  auto run = chain_->Run(f, in_);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);
  EXPECT_EQ(run->out, f);
  EXPECT_EQ(ChainCounter(*chain_, "fib_no_neigh"), 1u);
}

TEST_F(FibEgress, ExpiringTtlPassesToKernel) {
  Bytes f = PacketBuilder().Ipv4("10.9.1.2", "10.9.2.2", 1).Udp(1, 2).Build();
  auto run = chain_->Run(f, in_);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);
  EXPECT_EQ(ChainCounter(*chain_, "fib_pass"), 1u);
}

TEST_F(FibEgress, UnreachableRouteDrops) {
  Bytes f = PacketBuilder().Ipv4("10.9.1.2", "10.9.3.7").Udp(1, 2).Build();
  auto run = chain_->Run(f, in_);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_DROP);
  EXPECT_EQ(ChainCounter(*chain_, "fib_drop"), 1u);
}

TEST_F(FibEgress, LocalDestinationPassesToKernel) {
  Bytes f = PacketBuilder().Ipv4("10.9.1.2", "10.9.2.1").Udp(1, 2).Build();
  auto run = chain_->Run(f, in_);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);
  EXPECT_EQ(ChainCounter(*chain_, "fib_pass"), 1u);
}

}  // namespace
}  // namespace sfc::test
