// IPFIX byte layout, checked field by field against RFC 7011 and the IANA
// element definitions.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "efm/ipfix.h"

namespace sfc::efm {
namespace {

uint16_t Get16(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint16_t>(b.at(off) << 8 | b.at(off + 1));
}
uint32_t Get32(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint32_t>(Get16(b, off)) << 16 | Get16(b, off + 2);
}
uint64_t Get64(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint64_t>(Get32(b, off)) << 32 | Get32(b, off + 4);
}

FlowRecord V4Record() {
  FlowRecord r;
  EXPECT_TRUE(MakeFlowKey("10.1.2.3", "192.0.2.9", IPPROTO_TCP, 40000, 443, &r.key));
  r.key.ifindex = 7;
  r.key.vlan_outer = 100;
  r.key.vlan_inner = 20;
  r.packets = 12;
  r.bytes = 3456;
  r.start_ns = 5'000'000'000;  // monotonic
  r.end_ns = 6'500'000'000;
  r.tcp_flags = 0x1b;  // FIN SYN PSH ACK
  r.app = 7;           // nDPI's HTTP
  r.reason = EndReason::kEndOfFlow;
  return r;
}

constexpr int64_t kWallOffset = 1'700'000'000'000'000'000;  // mono 0 = this Unix time (ns)

TEST(EfmIpfix, TemplateRecordSizes) {
  EXPECT_EQ(IpfixRecordSize(4), 65u);
  EXPECT_EQ(IpfixRecordSize(6), 89u);
}

TEST(EfmIpfix, HeaderAndTemplateSet) {
  IpfixEncoder enc(42);
  auto msgs = enc.Encode({}, kWallOffset, 1700000123, /*with_templates=*/true);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& m = msgs[0];
  EXPECT_EQ(Get16(m, 0), 10) << "version";
  EXPECT_EQ(Get16(m, 2), m.size()) << "length";
  EXPECT_EQ(Get32(m, 4), 1700000123u) << "export time";
  EXPECT_EQ(Get32(m, 8), 0u) << "sequence";
  EXPECT_EQ(Get32(m, 12), 42u) << "observation domain";
  // Template set: id 2, two templates of 16 fields each.
  EXPECT_EQ(Get16(m, 16), 2);
  const size_t set_len = 4 + 2 * (4 + 16 * 4);
  EXPECT_EQ(Get16(m, 18), set_len);
  EXPECT_EQ(m.size(), 16 + set_len);
  EXPECT_EQ(Get16(m, 20), 256);
  EXPECT_EQ(Get16(m, 22), 16);
  const std::pair<uint16_t, uint16_t> v4[] = {
      {8, 4},  {12, 4},  {7, 2}, {11, 2}, {4, 1},   {6, 2},   {32, 2},  {10, 4},
      {58, 2}, {245, 2}, {1, 8}, {2, 8},  {152, 8}, {153, 8}, {136, 1}, {95, 7}};
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(Get16(m, 24 + 4 * i), v4[i].first) << "v4 field " << i;
    EXPECT_EQ(Get16(m, 26 + 4 * i), v4[i].second) << "v4 field " << i;
  }
  const size_t t6 = 24 + 16 * 4;
  EXPECT_EQ(Get16(m, t6), 257);
  EXPECT_EQ(Get16(m, t6 + 2), 16);
  EXPECT_EQ(Get16(m, t6 + 4), 27);
  EXPECT_EQ(Get16(m, t6 + 6), 16);
  EXPECT_EQ(Get16(m, t6 + 8), 28);
  EXPECT_EQ(Get16(m, t6 + 10), 16);
  EXPECT_EQ(Get16(m, t6 + 4 + 6 * 4), 139) << "icmpTypeCodeIPv6";
  EXPECT_EQ(Get16(m, t6 + 4 + 15 * 4), 95) << "applicationId";
  EXPECT_EQ(Get16(m, t6 + 6 + 15 * 4), 7);
  EXPECT_EQ(enc.sequence(), 0u) << "templates do not advance the sequence";
}

TEST(EfmIpfix, Ipv4DataRecordLayout) {
  IpfixEncoder enc(1);
  auto msgs = enc.Encode({V4Record()}, kWallOffset, 1, false);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& m = msgs[0];
  ASSERT_EQ(m.size(), 16u + 4 + 65);
  EXPECT_EQ(Get16(m, 16), 256) << "data set uses the v4 template";
  EXPECT_EQ(Get16(m, 18), 4 + 65);
  size_t o = 20;
  EXPECT_EQ(Get32(m, o), 0x0a010203u);
  EXPECT_EQ(Get32(m, o + 4), 0xc0000209u);
  EXPECT_EQ(Get16(m, o + 8), 40000);
  EXPECT_EQ(Get16(m, o + 10), 443);
  EXPECT_EQ(m[o + 12], IPPROTO_TCP);
  EXPECT_EQ(Get16(m, o + 13), 0x1b);
  EXPECT_EQ(Get16(m, o + 15), 0) << "no ICMP type for TCP";
  EXPECT_EQ(Get32(m, o + 17), 7u) << "ingressInterface";
  EXPECT_EQ(Get16(m, o + 21), 100) << "vlanId";
  EXPECT_EQ(Get16(m, o + 23), 20) << "dot1qCustomerVlanId";
  EXPECT_EQ(Get64(m, o + 25), 3456u) << "octetDeltaCount";
  EXPECT_EQ(Get64(m, o + 33), 12u) << "packetDeltaCount";
  EXPECT_EQ(Get64(m, o + 41), 1'700'000'005'000u) << "flowStartMilliseconds";
  EXPECT_EQ(Get64(m, o + 49), 1'700'000'006'500u) << "flowEndMilliseconds";
  EXPECT_EQ(m[o + 57], 3) << "flowEndReason endOfFlowDetected";
  // applicationId: PANA-L7-PEN (20), ntop's PEN 35632, nDPI id 7 (HTTP).
  const std::vector<uint8_t> app(m.begin() + o + 58, m.end());
  EXPECT_EQ(app, (std::vector<uint8_t>{20, 0x00, 0x00, 0x8b, 0x30, 0x00, 0x07}));
  EXPECT_EQ(enc.sequence(), 1u);
}

TEST(EfmIpfix, Ipv6AndIcmpRecords) {
  FlowRecord r;
  ASSERT_TRUE(MakeFlowKey("2001:db8::1", "2001:db8::2", IPPROTO_ICMPV6, 0, 128 << 8, &r.key));
  r.packets = 3;
  r.bytes = 312;
  r.reason = EndReason::kIdleTimeout;
  IpfixEncoder enc(1);
  auto msgs = enc.Encode({r}, kWallOffset, 1, false);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& m = msgs[0];
  ASSERT_EQ(m.size(), 16u + 4 + 89);
  EXPECT_EQ(Get16(m, 16), 257);
  const size_t o = 20;
  EXPECT_EQ(Get32(m, o), 0x20010db8u);
  EXPECT_EQ(m[o + 15], 1);
  EXPECT_EQ(m[o + 31], 2);
  EXPECT_EQ(Get16(m, o + 32), 0) << "ICMP has no source port";
  EXPECT_EQ(Get16(m, o + 34), 128 << 8) << "type/code in the destination port";
  EXPECT_EQ(m[o + 36], IPPROTO_ICMPV6);
  EXPECT_EQ(Get16(m, o + 39), 128 << 8) << "icmpTypeCodeIPv6";
  EXPECT_EQ(Get64(m, o + 49), 312u);
  EXPECT_EQ(Get64(m, o + 57), 3u);
  EXPECT_EQ(m[o + 81], 1) << "idleTimeout";
  // Not classified: nDPI's "Unknown" (0) under the same engine and PEN.
  const std::vector<uint8_t> app(m.begin() + o + 82, m.end());
  EXPECT_EQ(app, (std::vector<uint8_t>{20, 0x00, 0x00, 0x8b, 0x30, 0x00, 0x00}));
}

TEST(EfmIpfix, ApplicationIdEncoding) {
  uint8_t out[kApplicationIdLength];
  PutApplicationId(0x1234, out);
  EXPECT_EQ(std::vector<uint8_t>(out, out + sizeof(out)),
            (std::vector<uint8_t>{20, 0x00, 0x00, 0x8b, 0x30, 0x12, 0x34}));
  PutApplicationId(0xffff, out);
  EXPECT_EQ(out[5], 0xff);
  EXPECT_EQ(out[6], 0xff);
}

TEST(EfmIpfix, SplitsAtMaxSizeAndCountsSequence) {
  std::vector<FlowRecord> records;
  for (int i = 0; i < 50; ++i) {
    FlowRecord r = V4Record();
    r.key.sport = htons(static_cast<uint16_t>(1000 + i));
    records.push_back(r);
    FlowRecord r6;
    EXPECT_TRUE(MakeFlowKey("2001:db8::1", "2001:db8::2", IPPROTO_UDP, 1000 + i, 53, &r6.key));
    r6.packets = 1;
    records.push_back(r6);
  }
  IpfixEncoder enc(9, 512);
  auto msgs = enc.Encode(records, kWallOffset, 1, true);
  ASSERT_GT(msgs.size(), 1u);
  uint32_t expect_seq = 0;
  size_t data_records = 0;
  for (const auto& m : msgs) {
    ASSERT_LE(m.size(), 512u);
    EXPECT_EQ(Get16(m, 2), m.size());
    EXPECT_EQ(Get32(m, 8), expect_seq);
    // Walk the sets; their lengths must tile the message exactly.
    size_t off = 16, in_msg = 0;
    while (off < m.size()) {
      const uint16_t id = Get16(m, off), len = Get16(m, off + 2);
      ASSERT_GE(len, 4);
      const size_t rec = id == 256 ? 65 : id == 257 ? 89 : 0;
      if (rec) {
        EXPECT_EQ((len - 4) % rec, 0u);
        in_msg += (len - 4) / rec;
      }
      off += len;
    }
    EXPECT_EQ(off, m.size());
    expect_seq += in_msg;
    data_records += in_msg;
  }
  EXPECT_EQ(data_records, 100u);
  EXPECT_EQ(enc.sequence(), 100u);
  EXPECT_EQ(Get16(msgs[0], 16), 2) << "templates lead the first message";
}

}  // namespace
}  // namespace sfc::efm
