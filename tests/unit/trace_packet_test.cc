// The packet trace's expression parser and frame builder: what parses, the
// errors that name the bad word, and frames byte-for-byte equal to the test
// suite's own packet builder (two independent builders agreeing).
#include <gtest/gtest.h>

#include "support/packet.h"
#include "trace/frame.h"
#include "trace/packet_expr.h"

namespace sfc::trace {
namespace {

PacketSpec Parse(const std::string& expr) {
  auto r = ParsePacketExpr(expr);
  EXPECT_TRUE(r.ok()) << expr << ": " << r.status().message();
  return r.ok() ? *r : PacketSpec{};
}

std::string Error(const std::string& expr) {
  auto r = ParsePacketExpr(expr);
  EXPECT_FALSE(r.ok()) << expr;
  return r.ok() ? "" : r.status().message();
}

TEST(TracePacketExpr, TcpWithFlagsAndInterface) {
  PacketSpec s = Parse("tcp 10.0.0.1:1234 > 10.0.0.100:80 flags SA iif eth0");
  EXPECT_EQ(s.l4, L4::kTcp);
  EXPECT_FALSE(s.ipv6);
  EXPECT_EQ(s.src[0], 10);
  EXPECT_EQ(s.dst[3], 100);
  EXPECT_EQ(s.sport, 1234);
  EXPECT_EQ(s.dport, 80);
  EXPECT_EQ(s.tcp_flags, 0x12);
  EXPECT_EQ(s.iif, "eth0");
  EXPECT_EQ(TcpFlagLetters(s.tcp_flags), "SA");
}

TEST(TracePacketExpr, DefaultsAndOtherProtocols) {
  EXPECT_EQ(Parse("tcp 10.0.0.1:1 > 10.0.0.2:2").tcp_flags, 0x02);  // SYN
  PacketSpec u = Parse("udp [2001:db8::1]:5353 > [2001:db8::2]:53 vlan 100 vlan 200 len 64");
  EXPECT_TRUE(u.ipv6);
  EXPECT_EQ(u.l4, L4::kUdp);
  EXPECT_EQ(u.tcp_flags, 0);
  EXPECT_EQ(u.vlans, (std::vector<uint16_t>{100, 200}));
  EXPECT_EQ(u.payload_len, 64);
  PacketSpec i = Parse("icmp 10.0.0.1 > 10.0.0.2 id 7 ttl 3");
  EXPECT_EQ(i.icmp_type, 8);
  EXPECT_EQ(i.icmp_id, 7);
  EXPECT_EQ(i.ttl, 3);
  EXPECT_EQ(Parse("icmp6 fd00::1 > fd00::2").icmp_type, 128);
  EXPECT_EQ(Parse("tcp 1.2.3.4:5>6.7.8.9:10").dport, 10);  // ">" needs no spaces
}

TEST(TracePacketExpr, ErrorsNameTheWordAndTheReason) {
  EXPECT_EQ(Error(""), "packet: empty; expected e.g. \"tcp 10.0.0.1:1234 > 10.0.0.2:80\"");
  EXPECT_EQ(Error("sctp 1.1.1.1:1 > 2.2.2.2:2"),
            "packet: word 1 \"sctp\": expected the protocol: tcp, udp, icmp or icmp6");
  EXPECT_EQ(Error("tcp 10.0.0.1 > 10.0.0.2:80"),
            "packet: word 2 \"10.0.0.1\": needs a port (ADDR:PORT, [IPv6]:PORT)");
  EXPECT_NE(Error("tcp 10.0.0.300:1 > 10.0.0.2:80").find("word 2"), std::string::npos);
  EXPECT_NE(Error("tcp 10.0.0.1:99999 > 10.0.0.2:80").find("port must be a number"),
            std::string::npos);
  EXPECT_EQ(Error("tcp 10.0.0.1:1 10.0.0.2:80"),
            "packet: word 3 \"10.0.0.2:80\": expected \">\" between source and destination");
  EXPECT_NE(Error("tcp 10.0.0.1:1 > [fd00::1]:80").find("mix IPv4 and IPv6"), std::string::npos);
  EXPECT_NE(Error("udp 1.1.1.1:1 > 2.2.2.2:2 flags S").find("tcp only"), std::string::npos);
  EXPECT_NE(Error("tcp 1.1.1.1:1 > 2.2.2.2:2 flags SX").find("unknown TCP flag 'X'"),
            std::string::npos);
  EXPECT_NE(Error("tcp 1.1.1.1:1 > 2.2.2.2:2 vlan 4095").find("word 6"), std::string::npos);
  EXPECT_NE(Error("tcp 1.1.1.1:1 > 2.2.2.2:2 vlan 1 vlan 2 vlan 3").find("at most two"),
            std::string::npos);
  EXPECT_NE(Error("tcp 1.1.1.1:1 > 2.2.2.2:2 ttl 1 ttl 2").find("given twice"), std::string::npos);
  EXPECT_NE(Error("tcp 1.1.1.1:1 > 2.2.2.2:2 ttl").find("a value after \"ttl\""),
            std::string::npos);
  EXPECT_NE(Error("tcp 1.1.1.1:1 > 2.2.2.2:2 len 9000").find("from 0 to 1400"), std::string::npos);
  EXPECT_NE(Error("icmp 1.1.1.1:1 > 2.2.2.2").find("ICMP has no ports"), std::string::npos);
  EXPECT_NE(Error("icmp fd00::1 > fd00::2").find("write icmp6"), std::string::npos);
  EXPECT_NE(Error("tcp 1.1.1.1:1 > 2.2.2.2:2 colour red").find("expected one of"),
            std::string::npos);
  EXPECT_NE(Error("tcp 1.1.1.1:1 > 2.2.2.2:2 smac 02:00").find("not a MAC"), std::string::npos);
}

using test::PacketBuilder;

TEST(TraceFrame, EqualsTheTestSuitesBuilder) {
  EXPECT_EQ(BuildFrame(Parse("tcp 10.0.0.1:40000 > 10.0.0.2:80 flags S")),
            PacketBuilder()
                .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                .Ipv4("10.0.0.1", "10.0.0.2")
                .Tcp(40000, 80, test::kTcpSyn, 1, 0)
                .Build());
  EXPECT_EQ(BuildFrame(Parse("udp [fd00::1]:5353 > [fd00::2]:53 vlan 7 len 32")),
            PacketBuilder()
                .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                .Vlan(7)
                .Ipv6("fd00::1", "fd00::2")
                .Udp(5353, 53)
                .Payload(32, 0)
                .Build());
  EXPECT_EQ(BuildFrame(Parse("icmp 10.0.0.1 > 10.0.0.2 id 9")),
            PacketBuilder()
                .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                .Ipv4("10.0.0.1", "10.0.0.2")
                .Icmp(8, 0, 9, 1)
                .Build());
}

TEST(TraceFrame, DescribeReadsBackWhatWasBuilt) {
  EXPECT_EQ(DescribeFrame(BuildFrame(Parse("tcp 10.0.0.1:1234 > 10.0.0.100:80 flags SA"))),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 IPv4 10.0.0.1:1234 > 10.0.0.100:80 tcp flags "
            "SA ttl 64 len 54");
  EXPECT_EQ(DescribeFrame(BuildFrame(Parse("udp [fd00::1]:1 > [fd00::2]:2 vlan 5 vlan 6"))),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 vlan 5 vlan 6 IPv6 [fd00::1]:1 > [fd00::2]:2 "
            "udp hlim 64 len 70");
  EXPECT_EQ(DescribeFrame(BuildFrame(Parse("icmp6 fd00::1 > fd00::2 type 1 code 4"))),
            "02:00:00:00:00:01 > 02:00:00:00:00:02 IPv6 fd00::1 > fd00::2 icmp6 type 1 code 4 id 0 "
            "hlim 64 len 62");
  // Whatever the bytes, a line and no crash.
  Bytes f = BuildFrame(Parse("tcp 10.0.0.1:1 > 10.0.0.2:2"));
  for (size_t len = 0; len <= f.size(); ++len) (void)DescribeFrame(f.data(), len);
  EXPECT_EQ(DescribeFrame(f.data(), 10), "truncated Ethernet header (10 bytes)");
}

}  // namespace
}  // namespace sfc::trace
