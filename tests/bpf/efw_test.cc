// eFW through BPF_PROG_TEST_RUN in a real chain (entry -> firewall -> egress
// "pass"): every match field and action on IPv4 and IPv6, VLAN, options,
// extension headers, fragments; conntrack transitions; reject replies checked
// byte for byte and by checksum; live rule replacement; counters; rules on
// the application (entry -> app_stamp -> firewall).
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <chrono>
#include <thread>

#include "dpi/app_catalog.h"
#include "efw/config.h"
#include "efw/efw.h"
#include "efw/maps.h"
#include "support/app_stamp.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

using efw::Action;

std::string FwChain(const std::string& config) {
  return R"({"name": "fw", "interfaces": ["lo"], "vnfs": [{"name": "fw", "type": "firewall", "config": )" +
         config + "}]}";
}

std::unique_ptr<LoadedChain> MustLoad(const std::string& config) {
  auto c = LoadedChain::Load(FwChain(config));
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

int Verdict(LoadedChain& c, const Bytes& frame, uint32_t ifindex = 1) {
  auto run = c.Run(frame, ifindex);
  EXPECT_TRUE(run.ok()) << run.status().ToString();
  return run.ok() ? run->action : -1;
}

uint64_t Ctr(LoadedChain& c, const char* name) {
  auto v = c.VnfCounter("fw", name);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : ~0ull;
}

// The instance's pin directory (<root>/fw/fw).
std::string VnfDir(LoadedChain& c) {
  std::string p = c.PinPath("fw", "x");
  p.resize(p.size() - 2);
  return p;
}

uint16_t Get16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}
uint32_t Get32(const Bytes& b, size_t off) {
  return uint32_t{Get16(b, off)} << 16 | Get16(b, off + 2);
}

PacketBuilder Tcp4(const char* s, const char* d, uint16_t sp, uint16_t dp,
                   uint8_t flags = kTcpAck) {
  PacketBuilder b;
  b.Ipv4(s, d).Tcp(sp, dp, flags, 1000, 2000);
  return b;
}

TEST(EfwBpf, MatchesEachFieldIpv4AndIpv6) {
  auto c = MustLoad(R"({"default": "drop", "rules": [
      {"src": "10.1.0.0/16", "proto": "tcp", "action": "allow"},
      {"dst": "10.2.0.5", "proto": "udp", "dport": "50-60", "action": "allow"},
      {"proto": "tcp", "sport": 7000, "action": "allow"},
      {"proto": "tcp", "tcp_flags": "syn/syn,ack", "dport": 9, "action": "allow"},
      {"proto": "icmp", "icmp_type": 8, "action": "allow"},
      {"src": "fd00:1::/32", "proto": "tcp", "action": "allow"},
      {"dst": "fd00:2::5", "proto": "udp", "dport": 53, "action": "allow"},
      {"proto": "icmpv6", "icmp_type": 128, "action": "allow"},
      {"iif": "lo", "proto": "udp", "dport": 4789, "action": "allow"}]})");
  ASSERT_TRUE(c);
  // src prefix
  EXPECT_EQ(Verdict(*c, Tcp4("10.1.2.3", "1.1.1.1", 1, 2, kTcpSyn).Build()), XDP_PASS);
  EXPECT_EQ(Verdict(*c, Tcp4("10.3.2.3", "1.1.1.1", 1, 2, kTcpSyn).Build()), XDP_DROP);
  // dst + port range
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("9.9.9.9", "10.2.0.5").Udp(1, 55).Build()), XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("9.9.9.9", "10.2.0.5").Udp(1, 61).Build()), XDP_DROP);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("9.9.9.9", "10.2.0.6").Udp(1, 55).Build()), XDP_DROP);
  // sport
  EXPECT_EQ(Verdict(*c, Tcp4("9.9.9.9", "1.1.1.1", 7000, 1, kTcpSyn).Build()), XDP_PASS);
  // TCP flags: SYN without ACK only
  EXPECT_EQ(Verdict(*c, Tcp4("9.9.9.9", "1.1.1.1", 1, 9, kTcpSyn).Build()), XDP_PASS);
  EXPECT_EQ(Verdict(*c, Tcp4("9.9.9.9", "1.1.1.2", 1, 9, kTcpSyn | kTcpAck).Build()), XDP_DROP);
  // ICMP type
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("9.9.9.9", "1.1.1.1").Icmp(8, 0, 7, 1).Build()),
            XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("9.9.9.9", "1.1.1.1").Icmp(13, 0, 7, 1).Build()),
            XDP_DROP);
  // IPv6
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00:1::9", "fd00:9::1").Tcp(1, 2, kTcpSyn).Build()),
            XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00:3::9", "fd00:9::1").Tcp(1, 2, kTcpSyn).Build()),
            XDP_DROP);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00:3::9", "fd00:2::5").Udp(1, 53).Build()),
            XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00:3::9", "fd00:2::6").Udp(1, 53).Build()),
            XDP_DROP);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00:3::9", "fd00:2::6").Icmp(128, 0, 1, 1).Build()),
            XDP_PASS);
  // An IPv4 prefix never matches IPv6 and vice versa.
  EXPECT_EQ(
      Verdict(*c, PacketBuilder().Ipv6("::ffff:10.1.2.3", "fd00:9::1").Tcp(1, 2, kTcpSyn).Build()),
      XDP_DROP);
  // Ingress interface (1 = lo in BPF_PROG_TEST_RUN's ctx).
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("9.9.9.9", "1.1.1.1").Udp(1, 4789).Build(), 1),
            XDP_PASS);
  EXPECT_EQ(Ctr(*c, "default_drop"), 8u);
}

TEST(EfwBpf, FirstMatchWinsAndDefaultAllow) {
  auto c = MustLoad(R"({"default": "allow", "rules": [
      {"id": "deny-host", "src": "10.0.0.7", "action": "drop"},
      {"id": "allow-net", "src": "10.0.0.0/24", "action": "allow"},
      {"id": "deny-net", "src": "10.0.0.0/8", "action": "drop"}]})");
  ASSERT_TRUE(c);
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.7", "1.1.1.1", 1, 2).Build()), XDP_DROP);
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.8", "1.1.1.1", 1, 2).Build()), XDP_PASS);
  EXPECT_EQ(Verdict(*c, Tcp4("10.9.0.8", "1.1.1.1", 1, 2).Build()), XDP_DROP);
  EXPECT_EQ(Verdict(*c, Tcp4("11.9.0.8", "1.1.1.1", 1, 2).Build()), XDP_PASS);
  EXPECT_EQ(Ctr(*c, "default_allow"), 1u);
  EXPECT_EQ(Ctr(*c, "allow"), 2u);
  EXPECT_EQ(Ctr(*c, "drop"), 2u);

  auto tables = efw::FirewallTables::FromPins(VnfDir(*c));
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  std::vector<efw::Rule> rules(3);
  rules[0].id = "deny-host";
  rules[1].id = "allow-net";
  rules[2].id = "deny-net";
  auto counters = tables->Counters(rules);
  ASSERT_TRUE(counters.ok()) << counters.status().ToString();
  EXPECT_EQ((*counters)[0].packets, 1u);
  EXPECT_EQ((*counters)[1].packets, 1u);
  EXPECT_EQ((*counters)[2].packets, 1u);
  EXPECT_GT((*counters)[0].bytes, 40u);
}

TEST(EfwBpf, HeadersAroundTheIpPacket) {
  auto c = MustLoad(R"({"default": "drop", "rules": [
      {"src": "10.0.0.0/8", "proto": "tcp", "dport": 80, "action": "allow"},
      {"src": "fd00::/8", "proto": "udp", "dport": 53, "action": "allow"}]})");
  ASSERT_TRUE(c);
  // VLAN and QinQ: the inner packet is classified.
  EXPECT_EQ(
      Verdict(*c, PacketBuilder().Vlan(10).Ipv4("10.0.0.1", "1.1.1.1").Tcp(1, 80, kTcpSyn).Build()),
      XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder()
                            .Vlan(10, 0x88a8)
                            .Vlan(20)
                            .Ipv4("10.0.0.1", "1.1.1.1")
                            .Tcp(2, 80, kTcpSyn)
                            .Build()),
            XDP_PASS);
  EXPECT_EQ(
      Verdict(*c, PacketBuilder().Vlan(10).Ipv4("10.0.0.1", "1.1.1.1").Tcp(3, 81, kTcpSyn).Build()),
      XDP_DROP);
  // IPv4 options.
  EXPECT_EQ(Verdict(*c, PacketBuilder()
                            .Ipv4("10.0.0.1", "1.1.1.1")
                            .Ipv4Options({1, 1, 1, 1, 1, 1, 1, 0})
                            .Tcp(4, 80, kTcpSyn)
                            .Build()),
            XDP_PASS);
  // IPv6 extension headers before UDP.
  EXPECT_EQ(
      Verdict(
          *c,
          PacketBuilder().Ipv6("fd00::1", "fd01::1").Ipv6Ext(0).Ipv6Ext(60, 1).Udp(5, 53).Build()),
      XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00::1", "fd01::1").Ipv6Ext(43).Udp(5, 54).Build()),
            XDP_DROP);
}

// Policy: non-first fragments carry no ports, flags or ICMP type, and no
// connection state; only rules without L4 or state conditions match them.
TEST(EfwBpf, NonFirstFragmentsMatchL3RulesOnly) {
  auto c = MustLoad(R"({"default": "drop", "rules": [
      {"proto": "udp", "dport": 53, "action": "allow"},
      {"src": "10.0.0.0/8", "proto": "udp", "state": ["new", "established"], "action": "allow"},
      {"src": "10.9.0.0/16", "proto": "udp", "action": "allow"},
      {"src": "fd09::/16", "action": "allow"}]})");
  ASSERT_TRUE(c);
  auto first = PacketBuilder()
                   .Ipv4("10.0.0.1", "1.1.1.1")
                   .Ipv4Fragment(0, true)
                   .Udp(5, 53)
                   .Payload(32)
                   .Build();
  auto later = PacketBuilder()
                   .Ipv4("10.0.0.1", "1.1.1.1")
                   .Ipv4Fragment(40, false)
                   .Udp(5, 53)
                   .Payload(32)
                   .Build();
  auto later9 = PacketBuilder()
                    .Ipv4("10.9.0.1", "1.1.1.1")
                    .Ipv4Fragment(40, false)
                    .Udp(5, 53)
                    .Payload(32)
                    .Build();
  EXPECT_EQ(Verdict(*c, first), XDP_PASS);   // first fragment: ports known
  EXPECT_EQ(Verdict(*c, later), XDP_DROP);   // dport and state rules cannot match
  EXPECT_EQ(Verdict(*c, later9), XDP_PASS);  // plain L3 rule
  auto later6 = PacketBuilder()
                    .Ipv6("fd09::1", "fd00::1")
                    .Ipv6Fragment(48, false)
                    .Udp(5, 53)
                    .Payload(8)
                    .Build();
  auto later6x = PacketBuilder()
                     .Ipv6("fd08::1", "fd00::1")
                     .Ipv6Fragment(48, false)
                     .Udp(5, 53)
                     .Payload(8)
                     .Build();
  EXPECT_EQ(Verdict(*c, later6), XDP_PASS);
  EXPECT_EQ(Verdict(*c, later6x), XDP_DROP);
  EXPECT_EQ(Ctr(*c, "ct_untracked"), 4u);
}

TEST(EfwBpf, ConntrackLetsRepliesIn) {
  auto c = MustLoad(R"({"default": "drop", "rules": [
      {"state": ["established", "related"], "action": "allow"},
      {"src": "10.0.0.0/8", "state": "new", "action": "allow"}]})");
  ASSERT_TRUE(c);
  // TCP: SYN out, SYN-ACK back, ACKs both ways, RST closes.
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 80, 5555, kTcpSyn | kTcpAck).Build()),
            XDP_DROP);  // invalid
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.1", "1.2.3.4", 5555, 80, kTcpSyn).Build()), XDP_PASS);  // new
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 80, 5555, kTcpSyn | kTcpAck).Build()),
            XDP_PASS);  // est
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 80, 5555, kTcpAck).Build()), XDP_PASS);
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 81, 5555, kTcpAck).Build()),
            XDP_DROP);  // other flow
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 80, 5555, kTcpRst | kTcpAck).Build()),
            XDP_PASS);
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 80, 5555, kTcpAck).Build()),
            XDP_DROP);  // closed
  EXPECT_EQ(Ctr(*c, "ct_closed"), 1u);
  // Outside-initiated SYN is new from a non-allowed source: dropped, not tracked.
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 80, 5556, kTcpSyn).Build()), XDP_DROP);
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.1", "1.2.3.4", 5556, 80, kTcpAck).Build()),
            XDP_DROP);  // invalid

  // UDP.
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("1.2.3.4", "10.0.0.1").Udp(53, 3333).Build()),
            XDP_DROP);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("10.0.0.1", "1.2.3.4").Udp(3333, 53).Build()),
            XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("1.2.3.4", "10.0.0.1").Udp(53, 3333).Build()),
            XDP_PASS);

  // ICMP echo, IPv6.
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00::2", "10::1").Icmp(129, 0, 77, 1).Build()),
            XDP_DROP);
  auto c6 = MustLoad(R"({"default": "drop", "rules": [
      {"state": ["established", "related"], "action": "allow"},
      {"src": "fd00::/8", "state": "new", "action": "allow"}]})");
  ASSERT_TRUE(c6);
  EXPECT_EQ(
      Verdict(*c6, PacketBuilder().Ipv6("fd00::1", "2001:db8::1").Icmp(128, 0, 77, 1).Build()),
      XDP_PASS);
  EXPECT_EQ(
      Verdict(*c6, PacketBuilder().Ipv6("2001:db8::1", "fd00::1").Icmp(129, 0, 77, 1).Build()),
      XDP_PASS);
  EXPECT_EQ(
      Verdict(*c6, PacketBuilder().Ipv6("2001:db8::1", "fd00::1").Icmp(129, 0, 78, 1).Build()),
      XDP_DROP);

  // ICMP error quoting a tracked UDP flow is related.
  auto inner = PacketBuilder().Ipv4("10.0.0.1", "1.2.3.4").Udp(3333, 53).Build();
  Bytes quote(inner.begin() + 14, inner.begin() + 14 + 28);
  EXPECT_EQ(
      Verdict(*c, PacketBuilder().Ipv4("5.5.5.5", "10.0.0.1").Icmp(3, 3).Payload(quote).Build()),
      XDP_PASS);
  auto stranger = PacketBuilder().Ipv4("10.0.0.1", "1.2.3.4").Udp(3334, 53).Build();
  Bytes quote2(stranger.begin() + 14, stranger.begin() + 14 + 28);
  EXPECT_EQ(
      Verdict(*c, PacketBuilder().Ipv4("5.5.5.5", "10.0.0.1").Icmp(3, 3).Payload(quote2).Build()),
      XDP_DROP);
  EXPECT_EQ(Ctr(*c, "ct_related"), 1u);
  EXPECT_GE(Ctr(*c, "ct_inserted"), 2u);
}

// An echo flow carries requests and replies, and either may go the same
// way: the verdict cached in the connection must not carry a rule on the
// ICMP type over to a packet of another type (found by tests/bpf/torture_test.cc).
TEST(EfwBpf, CachedVerdictHonoursIcmpType) {
  auto c = MustLoad(R"({"default": "drop", "rules": [
      {"proto": "icmp", "icmp_type": 8, "action": "allow"},
      {"proto": "icmpv6", "icmp_type": 128, "action": "allow"}]})");
  ASSERT_TRUE(c);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Icmp(8, 0, 9, 1).Build()),
              XDP_PASS);
    EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Icmp(0, 0, 9, 1).Build()),
              XDP_DROP);
    EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00::1", "fd00::2").Icmp(128, 0, 9, 1).Build()),
              XDP_PASS);
    EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv6("fd00::1", "fd00::2").Icmp(129, 0, 9, 1).Build()),
              XDP_DROP);
  }
}

TEST(EfwBpf, ConnectionsExpire) {
  auto c = MustLoad(R"({"default": "drop",
      "conntrack": {"tcp_syn_timeout_s": 1, "udp_timeout_s": 1},
      "rules": [{"state": "established", "action": "allow"},
                {"src": "10.0.0.0/8", "state": "new", "action": "allow"}]})");
  ASSERT_TRUE(c);
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.1", "1.2.3.4", 5555, 80, kTcpSyn).Build()), XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("10.0.0.1", "1.2.3.4").Udp(3333, 53).Build()),
            XDP_PASS);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("1.2.3.4", "10.0.0.1").Udp(53, 3333).Build()),
            XDP_PASS);
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  // Past the SYN and UDP timeouts: the replies find nothing.
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 80, 5555, kTcpSyn | kTcpAck).Build()),
            XDP_DROP);
  EXPECT_EQ(Verdict(*c, PacketBuilder().Ipv4("1.2.3.4", "10.0.0.1").Udp(53, 3333).Build()),
            XDP_DROP);
  EXPECT_EQ(Ctr(*c, "ct_expired"), 2u);
}

TEST(EfwBpf, FullTableCountsEvictions) {
  auto c = MustLoad(R"({"default": "allow", "conntrack": {"max_entries": 64}})");
  ASSERT_TRUE(c);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(Verdict(*c, PacketBuilder()
                              .Ipv4("10.0.0.1", "1.2.3.4")
                              .Udp(static_cast<uint16_t>(1000 + i), 53)
                              .Build()),
              XDP_PASS);
  EXPECT_EQ(Ctr(*c, "ct_inserted"), 100u);
  EXPECT_EQ(Ctr(*c, "ct_evicted"), 36u);
}

TEST(EfwBpf, RejectTcpAnswersWithRst) {
  auto c = MustLoad(
      R"({"default": "drop", "rules": [{"proto": "tcp", "dport": 23, "action": "reject"}]})");
  ASSERT_TRUE(c);
  for (bool v6 : {false, true}) {
    for (bool ack : {false, true}) {
      PacketBuilder b;
      b.Eth("02:00:00:00:00:aa", "02:00:00:00:00:bb").Vlan(7);
      if (v6)
        b.Ipv6("fd00::1", "fd00::2");
      else
        b.Ipv4("10.0.0.1", "10.0.0.2").Ipv4Options({1, 1, 1, 0});
      b.Tcp(40000, 23, ack ? kTcpAck | kTcpPsh : kTcpSyn, 1000, 5000).Payload(10);
      auto run = c->Run(b.Build());
      ASSERT_TRUE(run.ok());
      ASSERT_EQ(run->action, XDP_TX) << "v6 " << v6 << " ack " << ack;
      const Bytes& out = run->out;
      FrameInfo fi = CheckFrame(out);
      ASSERT_TRUE(fi.ok) << fi.error;
      EXPECT_TRUE(fi.l3_csum_ok);
      EXPECT_TRUE(fi.l4_csum_ok);
      EXPECT_EQ(fi.proto, 6);
      EXPECT_EQ(MacString(out.data()), "02:00:00:00:00:aa");
      EXPECT_EQ(MacString(out.data() + 6), "02:00:00:00:00:bb");
      EXPECT_EQ(Get16(out, 14), 7);  // VLAN kept
      EXPECT_EQ(out.size(), fi.l4_off + 20);
      EXPECT_EQ(Get16(out, fi.l4_off), 23);
      EXPECT_EQ(Get16(out, fi.l4_off + 2), 40000);
      if (ack) {
        EXPECT_EQ(out[fi.l4_off + 13], 0x04);  // RST, seq = their ack
        EXPECT_EQ(Get32(out, fi.l4_off + 4), 5000u);
      } else {
        EXPECT_EQ(out[fi.l4_off + 13], 0x14);  // RST|ACK, ack = seq + SYN + payload
        EXPECT_EQ(Get32(out, fi.l4_off + 8), 1000u + 1 + 10);
      }
      if (!v6) {
        EXPECT_EQ(out[fi.l3_off] & 0x0f, 5);  // options dropped
        EXPECT_EQ(Get32(out, fi.l3_off + 12), 0x0a000002u);
        EXPECT_EQ(Get32(out, fi.l3_off + 16), 0x0a000001u);
      }
    }
  }
  // Never a RST for a RST.
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.1", "10.0.0.2", 1, 23, kTcpRst).Build()), XDP_DROP);
  EXPECT_EQ(Ctr(*c, "reject"), 4u);
  EXPECT_EQ(Ctr(*c, "reject_failed"), 1u);
  EXPECT_EQ(Ctr(*c, "tx"), 4u);
}

TEST(EfwBpf, RejectOtherAnswersWithIcmpUnreachable) {
  auto c = MustLoad(R"({"default": "drop", "rules": [{"proto": "udp", "action": "reject"},
                                                   {"proto": "icmp", "action": "reject"}]})");
  ASSERT_TRUE(c);
  // IPv4 UDP: ICMP 3/13 quoting the IP header + 8 bytes.
  auto in4 =
      PacketBuilder().Vlan(3).Ipv4("10.0.0.1", "10.0.0.2").Udp(1234, 53).Payload(100).Build();
  auto run = c->Run(in4);
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->action, XDP_TX);
  FrameInfo fi = CheckFrame(run->out);
  ASSERT_TRUE(fi.ok) << fi.error;
  EXPECT_TRUE(fi.l3_csum_ok);
  EXPECT_TRUE(fi.l4_csum_ok);
  EXPECT_EQ(fi.proto, 1);
  EXPECT_EQ(run->out[fi.l4_off], 3);
  EXPECT_EQ(run->out[fi.l4_off + 1], 13);
  EXPECT_EQ(run->out.size(), fi.l4_off + 8 + 28);
  EXPECT_TRUE(
      std::equal(in4.begin() + 18, in4.begin() + 18 + 28, run->out.begin() + fi.l4_off + 8));
  EXPECT_EQ(Get32(run->out, fi.l3_off + 16), 0x0a000001u);

  // IPv6 UDP: ICMPv6 1/1 quoting up to 128 bytes.
  auto in6 = PacketBuilder().Ipv6("fd00::1", "fd00::2").Udp(1234, 53).Payload(200).Build();
  run = c->Run(in6);
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->action, XDP_TX);
  fi = CheckFrame(run->out);
  ASSERT_TRUE(fi.ok) << fi.error;
  EXPECT_TRUE(fi.l4_csum_ok);
  EXPECT_EQ(fi.proto, 58);
  EXPECT_EQ(run->out[fi.l4_off], 1);
  EXPECT_EQ(run->out[fi.l4_off + 1], 1);
  EXPECT_EQ(run->out.size(), fi.l4_off + 8 + 128);
  EXPECT_TRUE(
      std::equal(in6.begin() + 14, in6.begin() + 14 + 128, run->out.begin() + fi.l4_off + 8));

  // Short IPv6 packet: the whole packet is quoted (rounded down to 4 bytes).
  auto short6 = PacketBuilder().Ipv6("fd00::1", "fd00::2").Udp(1, 2).Payload(3).Build();
  run = c->Run(short6);
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->action, XDP_TX);
  fi = CheckFrame(run->out);
  ASSERT_TRUE(fi.ok) << fi.error;
  EXPECT_TRUE(fi.l4_csum_ok);
  EXPECT_EQ(run->out.size(), fi.l4_off + 8 + 48);

  // ICMP echo gets an unreachable; an ICMP error never does.
  run = c->Run(PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Icmp(8, 0, 1, 1).Build());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_TX);
  EXPECT_TRUE(CheckFrame(run->out).l4_csum_ok);
  EXPECT_EQ(
      Verdict(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Icmp(3, 1).Payload(28).Build()),
      XDP_DROP);
  // Non-first fragments are dropped, not answered.
  EXPECT_EQ(
      Verdict(
          *c,
          PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Ipv4Fragment(8, false).Udp(1, 2).Build()),
      XDP_DROP);
}

TEST(EfwBpf, TruncatedAndMalformedNeverPass) {
  auto c = MustLoad(R"({"default": "drop", "rules": [{"src": "10.0.0.0/8", "action": "allow"}]})");
  ASSERT_TRUE(c);
  auto full = Tcp4("11.0.0.1", "1.1.1.1", 1, 2).Build();
  for (size_t len = 14; len < full.size(); len += 3) {
    Bytes cut(full.begin(), full.begin() + len);
    int v = Verdict(*c, cut);
    // Truncated IP/TCP headers are malformed: dropped, never allowed.
    EXPECT_EQ(v, XDP_DROP) << len;
  }
}

TEST(EfwBpf, LiveReplaceSwitchesAtomically) {
  auto c = MustLoad(
      R"({"default": "drop", "rules": [{"id": "a", "src": "10.0.0.0/8", "action": "allow"}]})");
  ASSERT_TRUE(c);
  auto tables = efw::FirewallTables::FromPins(VnfDir(*c));
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  auto pkt = Tcp4("10.0.0.1", "1.1.1.1", 1, 2).Build();
  EXPECT_EQ(Verdict(*c, pkt), XDP_PASS);
  for (int round = 0; round < 5; ++round) {
    auto cfg = efw::ParseFirewallConfig(nlohmann::json::parse(R"({"rules": [
        {"id": "b", "src": "10.0.0.0/24", "action": "drop"}, {"id": "a", "src": "10.0.0.0/8", "action": "allow"}]})"),
                                        "/c");
    ASSERT_TRUE(cfg.ok());
    auto st = tables->Install(cfg->rules, Action::kDrop);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(Verdict(*c, pkt), XDP_DROP);
    cfg->rules.erase(cfg->rules.begin());
    st = tables->Install(cfg->rules, Action::kDrop);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    EXPECT_EQ(Verdict(*c, pkt), XDP_PASS);
  }
  // Rule "a" kept its counter slot and counts across every install.
  std::vector<efw::Rule> a(1);
  a[0].id = "a";
  auto counters = tables->Counters(a);
  ASSERT_TRUE(counters.ok());
  EXPECT_EQ((*counters)[0].packets, 6u);
  // Stale sets are cleared: the match table holds at most two sets' entries.
  auto m = c->OpenMap("fw", "matches");
  ASSERT_TRUE(m.ok());
  efw_match_key k{}, next{};
  int n = 0;
  for (const efw_match_key* prev = nullptr; bpf_map_get_next_key(m->get(), prev, &next) == 0;
       prev = &k, ++n)
    k = next;
  EXPECT_LE(n, 3);
}

// A re-applied chain keeps connections and rule counters (by id), and gets
// freshly built rule tables.
TEST(EfwBpf, ReapplyKeepsConnectionsAndCounters) {
  const std::string before = R"({"default": "drop", "rules": [
      {"id": "est", "state": ["established"], "action": "allow"},
      {"id": "out", "src": "10.0.0.0/8", "proto": "tcp", "action": "allow"}]})";
  auto c = MustLoad(before);
  ASSERT_TRUE(c);
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.1", "1.2.3.4", 5555, 80, kTcpSyn).Build()), XDP_PASS);
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.1", "1.2.3.4", 5556, 80, kTcpSyn).Build()), XDP_PASS);

  const std::string after = R"({"default": "drop", "rules": [
      {"id": "block", "src": "10.0.0.9", "action": "drop"},
      {"id": "est", "state": ["established"], "action": "allow"},
      {"id": "out", "src": "10.0.0.0/8", "proto": "tcp", "action": "allow"}]})";
  auto st = c->Reapply(FwChain(after));
  ASSERT_TRUE(st.ok()) << st.ToString();
  // The connection tracked before the re-apply lets its reply in.
  EXPECT_EQ(Verdict(*c, Tcp4("1.2.3.4", "10.0.0.1", 80, 5555, kTcpSyn | kTcpAck).Build()),
            XDP_PASS);
  EXPECT_EQ(Verdict(*c, Tcp4("10.0.0.9", "1.2.3.4", 1, 80, kTcpSyn).Build()), XDP_DROP);

  auto tables = efw::FirewallTables::FromPins(VnfDir(*c));
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  std::vector<efw::Rule> rules(3);
  rules[0].id = "block";
  rules[1].id = "est";
  rules[2].id = "out";
  auto counters = tables->Counters(rules);
  ASSERT_TRUE(counters.ok());
  EXPECT_EQ((*counters)[0].packets, 1u);
  EXPECT_EQ((*counters)[1].packets, 1u);
  EXPECT_EQ((*counters)[2].packets, 2u);  // counted before the re-apply, kept
}

// --- Rules on the application a dpi VNF found (an app_stamp VNF plays it) ---

std::unique_ptr<LoadedChain> MustLoadWithApp(const std::string& config) {
  auto c = LoadedChain::Load(
      R"({"name": "fwapp", "interfaces": ["lo"], "vnfs": [
          {"name": "dpi", "type": "app_stamp", "config": {}},
          {"name": "fw", "type": "firewall", "config": )" +
      config + "}]}");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

uint16_t AppId(const char* name) { return dpi::AppCatalog::Get().AppId(name).value_or(0); }
uint8_t CategoryId(const char* name) { return dpi::AppCatalog::Get().CategoryId(name).value_or(0); }

TEST(EfwBpfApp, MatchesAppAndCategory) {
  auto c = MustLoadWithApp(R"({"default": "drop", "rules": [
      {"id": "bt", "app": "BitTorrent", "action": "reject"},
      {"id": "games", "app_category": "Game", "action": "drop"},
      {"id": "unknown", "app": "Unknown", "proto": "udp", "action": "allow"},
      {"id": "tls-web", "app": "TLS", "app_category": "Web", "action": "allow"}]})");
  ASSERT_TRUE(c);
  auto udp = [](uint16_t sport) {
    return PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(sport, 9000).Build();
  };
  struct Case {
    uint16_t app;
    uint8_t category;
    int want;
  } cases[] = {
      {0, 0, XDP_PASS},                                       // not classified yet
      {AppId("BitTorrent"), 0, XDP_TX},                       // ICMP unreachable back
      {AppId("HTTP"), CategoryId("Game"), XDP_DROP},          // category
      {AppId("TLS"), CategoryId("Web"), XDP_PASS},            // both fields
      {AppId("TLS"), CategoryId("Media"), XDP_DROP},          // app without its category
      {AppId("HTTP"), CategoryId("Web"), XDP_DROP},           // no rule: default
      {static_cast<uint16_t>(EFW_APP_IDS + 7), 0, XDP_DROP},  // an id past the table
  };
  uint16_t sport = 1000;
  for (const auto& k : cases) {
    ASSERT_TRUE(SetStampedApp(*c, "dpi", k.app, k.category).ok());
    EXPECT_EQ(Verdict(*c, udp(sport++)), k.want)
        << "app " << k.app << " category " << int(k.category);
  }
  auto tables = efw::FirewallTables::FromPins(VnfDir(*c));
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  auto cfg = efw::ParseFirewallConfig(nlohmann::json::parse(R"({"rules": [
      {"id": "bt", "app": "BitTorrent", "action": "reject"},
      {"id": "games", "app_category": "Game", "action": "drop"},
      {"id": "unknown", "app": "Unknown", "proto": "udp", "action": "allow"},
      {"id": "tls-web", "app": "TLS", "app_category": "Web", "action": "allow"}]})"),
                                      "/c");
  ASSERT_TRUE(cfg.ok());
  auto counters = tables->Counters(cfg->rules);
  ASSERT_TRUE(counters.ok()) << counters.status().ToString();
  EXPECT_EQ((*counters)[0].packets, 1u);
  EXPECT_EQ((*counters)[1].packets, 1u);
  EXPECT_EQ((*counters)[2].packets, 1u);
  EXPECT_EQ((*counters)[3].packets, 1u);
}

// A flow's first packets pass unclassified and the connection caches that
// verdict; once the dpi VNF names the application, the cached verdict must
// not outlive it: "drop BitTorrent" drops the flow both ways from then on,
// while another flow classified as something else keeps passing.
TEST(EfwBpfApp, ClassifiedFlowIsEvaluatedAgain) {
  auto c = MustLoadWithApp(R"({"default": "allow", "rules": [
      {"id": "bt", "app": "BitTorrent", "action": "drop"}]})");
  ASSERT_TRUE(c);
  auto out = [](const char* s, const char* d, uint16_t sp, uint16_t dp, uint8_t fl) {
    return Tcp4(s, d, sp, dp, fl).Build();
  };
  const auto bt_out = out("10.0.0.1", "10.0.0.2", 40000, 6881, kTcpAck);
  const auto bt_in = out("10.0.0.2", "10.0.0.1", 6881, 40000, kTcpAck);
  const auto web_out = out("10.0.0.1", "10.0.0.3", 40001, 80, kTcpAck);

  ASSERT_TRUE(SetStampedApp(*c, "dpi", 0, 0).ok());
  EXPECT_EQ(Verdict(*c, out("10.0.0.1", "10.0.0.2", 40000, 6881, kTcpSyn)), XDP_PASS);
  EXPECT_EQ(Verdict(*c, out("10.0.0.2", "10.0.0.1", 6881, 40000, kTcpSyn | kTcpAck)), XDP_PASS);
  EXPECT_EQ(Verdict(*c, out("10.0.0.1", "10.0.0.3", 40001, 80, kTcpSyn)), XDP_PASS);
  EXPECT_EQ(Verdict(*c, out("10.0.0.3", "10.0.0.1", 80, 40001, kTcpSyn | kTcpAck)), XDP_PASS);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Verdict(*c, bt_out), XDP_PASS);
    EXPECT_EQ(Verdict(*c, bt_in), XDP_PASS);
  }
  const uint64_t cached = Ctr(*c, "verdict_cached");
  EXPECT_GE(cached, 4u);  // unclassified, the flow rides its cached verdict

  ASSERT_TRUE(
      SetStampedApp(*c, "dpi", AppId("BitTorrent"), CategoryId("Download-FileTransfer-FileSharing"))
          .ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Verdict(*c, bt_out), XDP_DROP) << i;
    EXPECT_EQ(Verdict(*c, bt_in), XDP_DROP) << i;
  }
  // Both directions classified again once, then the drop is cached too.
  EXPECT_EQ(Ctr(*c, "verdict_cached"), cached + 4);
  EXPECT_EQ(Ctr(*c, "drop"), 6u);

  ASSERT_TRUE(SetStampedApp(*c, "dpi", AppId("HTTP"), CategoryId("Web")).ok());
  for (int i = 0; i < 2; ++i) EXPECT_EQ(Verdict(*c, web_out), XDP_PASS);

  auto tables = efw::FirewallTables::FromPins(VnfDir(*c));
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  efw::Rule bt;
  bt.id = "bt";
  auto counters = tables->Counters({bt});
  ASSERT_TRUE(counters.ok()) << counters.status().ToString();
  EXPECT_EQ((*counters)[0].packets, 6u);
}

// Rule sets without app fields ignore the application: a flow labelled
// after its first packets keeps its cached verdict.
TEST(EfwBpfApp, RulesWithoutAppIgnoreIt) {
  auto c = MustLoadWithApp(R"({"default": "drop", "rules": [
      {"proto": "udp", "action": "allow"}]})");
  ASSERT_TRUE(c);
  const auto pkt = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(5000, 53).Build();
  ASSERT_TRUE(SetStampedApp(*c, "dpi", 0, 0).ok());
  EXPECT_EQ(Verdict(*c, pkt), XDP_PASS);
  EXPECT_EQ(Verdict(*c, pkt), XDP_PASS);
  ASSERT_TRUE(SetStampedApp(*c, "dpi", AppId("DNS"), 0).ok());
  EXPECT_EQ(Verdict(*c, pkt), XDP_PASS);
  EXPECT_EQ(Ctr(*c, "verdict_cached"), 1u);
}

}  // namespace
}  // namespace sfc::test
