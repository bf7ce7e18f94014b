#include <gtest/gtest.h>
#include <netinet/in.h>

#include "dpi/app_catalog.h"
#include "efm/flow_query.h"
#include "efm/requests.h"

namespace sfc::efm {
namespace {

FlowView View(const std::string& src, const std::string& dst, uint8_t proto, uint16_t sport,
              uint16_t dport, uint64_t packets, uint64_t bytes, double rate = 0) {
  FlowView v;
  EXPECT_TRUE(MakeFlowKey(src, dst, proto, sport, dport, &v.key));
  v.counters.packets = packets;
  v.counters.bytes = bytes;
  v.bytes_per_s = rate;
  return v;
}

FlowQuery Q(SortBy sort, size_t top = 0) {
  FlowQuery q;
  q.sort = sort;
  q.top = top;
  return q;
}
FlowQuery WithPrefix(const Prefix& p) {
  FlowQuery q;
  q.prefix = p;
  return q;
}
FlowQuery WithPort(uint16_t port) {
  FlowQuery q;
  q.port = port;
  return q;
}
FlowQuery WithProto(uint8_t proto) {
  FlowQuery q;
  q.proto = proto;
  return q;
}

std::vector<FlowView> Select(FlowQuery q, const std::vector<FlowView>& flows) {
  FlowSelection sel(std::move(q));
  for (const auto& f : flows) sel.Offer(f);
  return sel.Take();
}

const std::vector<FlowView>& Flows() {
  static const std::vector<FlowView> flows = {
      View("10.0.0.1", "10.0.1.1", IPPROTO_TCP, 40000, 80, 10, 5000, 100),
      View("10.0.0.2", "192.168.1.1", IPPROTO_UDP, 5353, 53, 50, 3000, 900),
      View("172.16.0.1", "10.0.0.9", IPPROTO_TCP, 443, 51000, 5, 90000, 10),
      View("2001:db8::1", "2001:db8:1::2", IPPROTO_TCP, 33000, 443, 7, 7000, 50),
      View("10.0.0.3", "10.0.0.4", IPPROTO_ICMP, 0, 0x0800, 3, 252, 1),
  };
  return flows;
}

TEST(EfmQuery, SortsByBytesPacketsRate) {
  auto by_bytes = Select(Q(SortBy::kBytes), Flows());
  ASSERT_EQ(by_bytes.size(), 5u);
  EXPECT_EQ(by_bytes[0].counters.bytes, 90000u);
  EXPECT_EQ(by_bytes[1].counters.bytes, 7000u);
  EXPECT_EQ(by_bytes[4].counters.bytes, 252u);

  auto by_packets = Select(Q(SortBy::kPackets), Flows());
  EXPECT_EQ(by_packets[0].counters.packets, 50u);
  EXPECT_EQ(by_packets[1].counters.packets, 10u);

  auto by_rate = Select(Q(SortBy::kRate), Flows());
  EXPECT_EQ(by_rate[0].bytes_per_s, 900);
  EXPECT_EQ(by_rate[4].bytes_per_s, 1);
}

TEST(EfmQuery, TopNKeepsTheBest) {
  auto top2 = Select(Q(SortBy::kBytes, 2), Flows());
  ASSERT_EQ(top2.size(), 2u);
  EXPECT_EQ(top2[0].counters.bytes, 90000u);
  EXPECT_EQ(top2[1].counters.bytes, 7000u);

  // Many flows, small N: the heap must keep exactly the largest ones.
  std::vector<FlowView> many;
  for (uint32_t i = 0; i < 1000; ++i)
    many.push_back(View("10.1.0.1", "10.2.0.1", IPPROTO_UDP, static_cast<uint16_t>(1000 + i), 53, 1,
                        (i * 7919) % 1000));
  auto top3 = Select(Q(SortBy::kBytes, 3), many);
  ASSERT_EQ(top3.size(), 3u);
  EXPECT_EQ(top3[0].counters.bytes, 999u);
  EXPECT_EQ(top3[1].counters.bytes, 998u);
  EXPECT_EQ(top3[2].counters.bytes, 997u);
}

TEST(EfmQuery, FiltersByPrefixEitherSide) {
  auto p = ParsePrefix("10.0.0.0/24");
  ASSERT_TRUE(p.ok());
  auto r = Select(WithPrefix(*p), Flows());
  // 10.0.0.1->, 10.0.0.2->, ->10.0.0.9, the ICMP flow; not the IPv6 one.
  EXPECT_EQ(r.size(), 4u);
  auto v6 = ParsePrefix("2001:db8:1::/48");
  ASSERT_TRUE(v6.ok());
  r = Select(WithPrefix(*v6), Flows());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].key.family, 6);
  auto host = ParsePrefix("192.168.1.1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->len, 32);
  EXPECT_EQ(Select(WithPrefix(*host), Flows()).size(), 1u);
}

TEST(EfmQuery, FiltersByPortAndProtocol) {
  auto r = Select(WithPort(443), Flows());
  EXPECT_EQ(r.size(), 2u);  // sport 443 (v4) and dport 443 (v6)
  r = Select(WithPort(0x0800), Flows());
  EXPECT_TRUE(r.empty()) << "ICMP type/code is not a port";
  r = Select(WithProto(IPPROTO_UDP), Flows());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(DstPort(r[0].key), 53);
  r = Select(
      [] {
        auto q = WithPort(80);
        q.proto = IPPROTO_UDP;
        return q;
      }(),
      Flows());
  EXPECT_TRUE(r.empty());
}

TEST(EfmQuery, FiltersByApp) {
  const auto& catalog = dpi::AppCatalog::Get();
  const uint16_t http = *catalog.AppId("HTTP"), bt = *catalog.AppId("BitTorrent");
  FlowView web = View("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40000, 80, 5, 500);
  web.counters.app = http;
  FlowView torrent = View("10.0.0.1", "10.0.0.3", IPPROTO_TCP, 40001, 6881, 5, 500);
  torrent.counters.app = bt;
  FlowView unknown = View("10.0.0.1", "10.0.0.4", IPPROTO_UDP, 40002, 9999, 5, 500);

  v1::ListFlowsRequest req;
  req.set_app("bittorrent");  // nDPI's names, case-insensitive
  auto q = ParseFilters(req);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->app, bt);
  EXPECT_TRUE(Matches(*q, torrent));
  EXPECT_FALSE(Matches(*q, web));
  EXPECT_FALSE(Matches(*q, unknown));

  req.set_app("Unknown");  // flows no dpi VNF classified
  q = ParseFilters(req);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_TRUE(Matches(*q, unknown));
  EXPECT_FALSE(Matches(*q, web));

  req.clear_app();
  q = ParseFilters(req);
  ASSERT_TRUE(q.ok());
  EXPECT_FALSE(q->app);
  EXPECT_TRUE(Matches(*q, web) && Matches(*q, torrent) && Matches(*q, unknown));

  v1::WatchFlowsRequest watch;
  watch.set_app("Foo");
  auto bad = ParseFilters(watch);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "app: unknown application \"Foo\" (sfcctl dpi protocols lists them)");
}

TEST(EfmQuery, PrefixParsing) {
  EXPECT_FALSE(ParsePrefix("10.0.0.0/33").ok());
  EXPECT_FALSE(ParsePrefix("10.0.0/8").ok());
  EXPECT_FALSE(ParsePrefix("10.0.0.0/").ok());
  EXPECT_FALSE(ParsePrefix("::/129").ok());
  auto p = ParsePrefix("10.128.0.0/9");
  ASSERT_TRUE(p.ok());
  uint32_t in[4] = {htonl(0x0a800001), 0, 0, 0}, out[4] = {htonl(0x0a000001), 0, 0, 0};
  EXPECT_TRUE(PrefixContains(*p, 4, in));
  EXPECT_FALSE(PrefixContains(*p, 4, out));
  EXPECT_FALSE(PrefixContains(*p, 6, in));
  auto all = ParsePrefix("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(PrefixContains(*all, 4, out));
}

TEST(EfmQuery, SortParsing) {
  EXPECT_EQ(ParseSortBy("").value(), SortBy::kBytes);
  EXPECT_EQ(ParseSortBy("packets").value(), SortBy::kPackets);
  EXPECT_EQ(ParseSortBy("rate").value(), SortBy::kRate);
  EXPECT_FALSE(ParseSortBy("pps").ok());
}

}  // namespace
}  // namespace sfc::efm
