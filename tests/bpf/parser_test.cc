// The shared parser, run by the entry program of a one-noop chain: what it
// records for valid frames, and that truncated or malformed frames are
// dropped and counted, never passed on.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

constexpr const char* kChain = R"({"name": "parse", "interfaces": ["lo"],
    "vnfs": [{"name": "n", "type": "noop"}], "egress": {"action": "pass"}})";

class ParserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = LoadedChain::Load(kChain);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    chain_ = std::move(c).value();
  }
  // Runs the frame and returns what the parser recorded.
  sfc_pkt Parse(const Bytes& frame, int expect_action = XDP_PASS) {
    auto run = chain_->Run(frame);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    if (run.ok()) {
      EXPECT_EQ(run->action, expect_action) << XdpActionName(run->action);
    }
    auto pkt = chain_->LastPacket();
    EXPECT_TRUE(pkt.ok());
    return pkt.ok() ? *pkt : sfc_pkt{};
  }
  uint64_t Counter(const char* name) {
    auto v = chain_->ChainCounter(name);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : 0;
  }
  std::unique_ptr<LoadedChain> chain_;
};

uint32_t Ip4(const char* text) {
  in_addr a;
  inet_pton(AF_INET, text, &a);
  return a.s_addr;
}

TEST_F(ParserTest, Ipv4Tcp) {
  auto f = PacketBuilder()
               .Ipv4("10.1.2.3", "10.4.5.6", 33)
               .Tcp(40000, 443, kTcpSyn | kTcpAck)
               .Payload(10)
               .Build();
  sfc_pkt p = Parse(f);
  EXPECT_EQ(p.l3_proto, ETH_P_IP);
  EXPECT_EQ(p.l3_off, 14);
  EXPECT_EQ(p.l4_off, 34);
  EXPECT_EQ(p.l4_proto, IPPROTO_TCP);
  EXPECT_EQ(p.saddr[0], Ip4("10.1.2.3"));
  EXPECT_EQ(p.daddr[0], Ip4("10.4.5.6"));
  EXPECT_EQ(p.saddr[1], 0u);
  EXPECT_EQ(ntohs(p.sport), 40000);
  EXPECT_EQ(ntohs(p.dport), 443);
  EXPECT_EQ(p.tcp_flags, kTcpSyn | kTcpAck);
  EXPECT_EQ(p.ttl, 33);
  EXPECT_EQ(p.flags, SFC_PKT_F_L4);
  EXPECT_EQ(p.pkt_len, f.size());
  EXPECT_EQ(Counter("rx_packets"), 1u);
  EXPECT_EQ(Counter("rx_bytes"), f.size());
}

TEST_F(ParserTest, Ipv4OptionsShiftL4) {
  auto f = PacketBuilder()
               .Ipv4("10.0.0.1", "10.0.0.2")
               .Ipv4Options({0x94, 0x04, 0, 0, 1, 1, 1, 0})
               .Udp(53, 5353)
               .Build();
  sfc_pkt p = Parse(f);
  EXPECT_EQ(p.l4_off, 14 + 28);
  EXPECT_EQ(ntohs(p.dport), 5353);
  EXPECT_TRUE(p.flags & SFC_PKT_F_IPV4_OPTS);
}

TEST_F(ParserTest, VlanAndQinQ) {
  sfc_pkt p = Parse(PacketBuilder().Vlan(100).Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build());
  EXPECT_EQ(p.vlan_outer, 100);
  EXPECT_EQ(p.l3_off, 18);
  EXPECT_TRUE(p.flags & SFC_PKT_F_VLAN);
  p = Parse(
      PacketBuilder().Vlan(300, 0x88a8).Vlan(42).Ipv6("fd00::1", "fd00::2").Tcp(5, 6).Build());
  EXPECT_EQ(p.vlan_outer, 300);
  EXPECT_EQ(p.vlan_inner, 42);
  EXPECT_EQ(p.l3_off, 22);
  EXPECT_EQ(ntohs(p.dport), 6);
}

TEST_F(ParserTest, ThreeVlanTagsAreMalformed) {
  Parse(PacketBuilder().Vlan(1).Vlan(2).Vlan(3).Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build(),
        XDP_DROP);
  EXPECT_EQ(Counter("malformed"), 1u);
}

TEST_F(ParserTest, Ipv6ExtensionHeaders) {
  auto f = PacketBuilder()
               .Ipv6("fd00::1", "fd00::2")
               .Ipv6Ext(0)
               .Ipv6Ext(43, 1)
               .Ipv6Ext(60, 2)
               .Tcp(7, 8)
               .Build();
  sfc_pkt p = Parse(f);
  EXPECT_EQ(p.l3_proto, ETH_P_IPV6);
  EXPECT_EQ(p.l4_proto, IPPROTO_TCP);
  EXPECT_EQ(p.l4_off, 14 + 40 + 8 + 16 + 24);
  EXPECT_EQ(ntohs(p.sport), 7);
  EXPECT_TRUE(p.flags & SFC_PKT_F_IPV6_EXT);
  EXPECT_TRUE(p.flags & SFC_PKT_F_L4);
}

TEST_F(ParserTest, Fragments) {
  // First fragment: ports present. Later fragment: flagged, no L4.
  sfc_pkt p = Parse(PacketBuilder()
                        .Ipv4("10.0.0.1", "10.0.0.2")
                        .Ipv4Fragment(0, true)
                        .Udp(1, 2)
                        .Payload(16)
                        .Build());
  EXPECT_EQ(p.flags & (SFC_PKT_F_FRAG | SFC_PKT_F_FRAG_LATER | SFC_PKT_F_L4),
            SFC_PKT_F_FRAG | SFC_PKT_F_L4);
  p = Parse(PacketBuilder()
                .Ipv4("10.0.0.1", "10.0.0.2")
                .Ipv4Fragment(64, false)
                .Proto(IPPROTO_UDP)
                .Payload(16)
                .Build());
  EXPECT_EQ(p.flags & (SFC_PKT_F_FRAG | SFC_PKT_F_FRAG_LATER | SFC_PKT_F_L4),
            SFC_PKT_F_FRAG | SFC_PKT_F_FRAG_LATER);
  EXPECT_EQ(p.sport, 0);
  p = Parse(PacketBuilder().Ipv6("fd00::1", "fd00::2").Ipv6Fragment(0, true).Tcp(3, 4).Build());
  EXPECT_EQ(p.flags & (SFC_PKT_F_FRAG_LATER | SFC_PKT_F_L4), SFC_PKT_F_L4);
  EXPECT_EQ(ntohs(p.dport), 4);
  p = Parse(PacketBuilder()
                .Ipv6("fd00::1", "fd00::2")
                .Ipv6Fragment(1232, false)
                .Proto(IPPROTO_TCP)
                .Payload(8)
                .Build());
  EXPECT_TRUE(p.flags & SFC_PKT_F_FRAG_LATER);
  EXPECT_EQ(p.l4_proto, IPPROTO_TCP);
  EXPECT_FALSE(p.flags & SFC_PKT_F_L4);
}

TEST_F(ParserTest, IcmpEchoAndOtherProtocols) {
  sfc_pkt p = Parse(PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Icmp(8, 0, 0x1234, 1).Build());
  EXPECT_EQ(p.icmp_type, 8);
  EXPECT_EQ(ntohs(p.sport), 0x1234);
  p = Parse(PacketBuilder().Ipv6("fd00::1", "fd00::2").Icmp(128, 0, 77, 1).Build());
  EXPECT_EQ(p.l4_proto, IPPROTO_ICMPV6);
  EXPECT_EQ(p.icmp_type, 128);
  p = Parse(PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Proto(47).Payload(20).Build());  // GRE
  EXPECT_EQ(p.l4_proto, 47);
  EXPECT_FALSE(p.flags & SFC_PKT_F_L4);
}

TEST_F(ParserTest, NonIpGoesToTheKernel) {
  Parse(PacketBuilder().EtherType(ETH_P_ARP).Payload(28).Build(), XDP_PASS);
  EXPECT_EQ(Counter("non_ip"), 1u);
  // Counted at the chain, never seen by a VNF.
  auto seen = chain_->VnfCounter("n", "rx_packets");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(*seen, 0u);
}

// Every header cut short at every byte is dropped as malformed.
TEST_F(ParserTest, TruncatedFramesAreDropped) {
  const Bytes frames[] = {
      PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2).Build(),
      PacketBuilder()
          .Vlan(5)
          .Ipv4("10.0.0.1", "10.0.0.2")
          .Ipv4Options({1, 1, 1, 1})
          .Udp(1, 2)
          .Build(),
      PacketBuilder().Ipv6("fd00::1", "fd00::2").Ipv6Ext(0, 1).Icmp(128).Build(),
  };
  uint64_t expected = 0;
  for (const Bytes& full : frames) {
    FrameInfo info = CheckFrame(full);
    ASSERT_TRUE(info.ok);
    size_t l4_len = info.proto == IPPROTO_TCP ? 20 : 8;
    // Below ETH_HLEN the kernel itself refuses a test frame.
    for (size_t len = ETH_HLEN; len < info.l4_off + l4_len; ++len) {
      Bytes cut(full.begin(), full.begin() + len);
      auto run = chain_->Run(cut);
      ASSERT_TRUE(run.ok()) << run.status().ToString();
      EXPECT_EQ(run->action, XDP_DROP) << "length " << len;
      ++expected;
    }
  }
  EXPECT_EQ(Counter("malformed"), expected);
  auto seen = chain_->VnfCounter("n", "rx_packets");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(*seen, 0u);
}

TEST_F(ParserTest, InvalidHeaderFieldsAreDropped) {
  Bytes bad_ihl = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build();
  bad_ihl[14] = 0x44;  // IHL 4 < 5
  Parse(bad_ihl, XDP_DROP);
  Bytes bad_version = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build();
  bad_version[14] = 0x65;
  Parse(bad_version, XDP_DROP);
  Bytes bad_doff = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2).Build();
  bad_doff[14 + 20 + 12] = 0x40;  // data offset 4 < 5
  Parse(bad_doff, XDP_DROP);
  EXPECT_EQ(Counter("malformed"), 3u);
}

}  // namespace
}  // namespace sfc::test
