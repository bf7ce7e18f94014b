// The test packet builder must produce frames real stacks accept: checked
// against fixed reference bytes and against its own checksum verifier.
#include <gtest/gtest.h>

#include "support/packet.h"

namespace sfc::test {
namespace {

TEST(PacketBuilder, Ipv4HeaderChecksumMatchesReference) {
  // RFC 1071 worked example header (wikipedia's classic 0xb861 header).
  Bytes hdr = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
               0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(static_cast<uint16_t>(~OnesSum(hdr.data(), hdr.size())), 0xb861);
}

TEST(PacketBuilder, FramesVerify) {
  for (const Bytes& f : {
           PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2, kTcpSyn).Payload(7).Build(),
           PacketBuilder()
               .Vlan(10)
               .Vlan(20, 0x88a8)
               .Ipv4("10.0.0.1", "10.0.0.2")
               .Udp(53, 53)
               .Payload(5)
               .Build(),
           PacketBuilder()
               .Ipv4("10.0.0.1", "10.0.0.2")
               .Ipv4Options({0x94, 0x04, 0, 0})
               .Icmp(8, 0, 7, 1)
               .Build(),
           PacketBuilder()
               .Ipv6("fd00::1", "fd00::2")
               .Ipv6Ext(0)
               .Ipv6Ext(60, 1)
               .Tcp(1, 2)
               .Payload(3)
               .Build(),
           PacketBuilder().Ipv6("fd00::1", "fd00::2").Icmp(128, 0, 9, 9).Build(),
       }) {
    FrameInfo info = CheckFrame(f);
    ASSERT_TRUE(info.ok) << info.error;
    EXPECT_TRUE(info.l3_csum_ok);
    EXPECT_TRUE(info.l4_csum_ok);
  }
}

TEST(PacketBuilder, CorruptionIsDetected) {
  Bytes f = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2).Payload(8).Build();
  f.back() ^= 0xff;
  EXPECT_FALSE(CheckFrame(f).l4_csum_ok);
  f = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build();
  f[14 + 8] ^= 1;  // TTL
  EXPECT_FALSE(CheckFrame(f).l3_csum_ok);
}

}  // namespace
}  // namespace sfc::test
