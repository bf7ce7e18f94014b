// The dpi VNF's pure parts: config validation (every error names its field)
// and the classifier around nDPI, fed crafted packets as the ring buffer
// carries them.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <vector>

#include "dpi/app_catalog.h"
#include "dpi/classifier.h"
#include "dpi/config.h"
#include "dpi/requests.h"
#include "support/packet.h"

namespace sfc::dpi {
namespace {

using test::Bytes;
using test::PacketBuilder;

std::string ConfigError(const std::string& text) {
  auto r = ParseDpiConfig(nlohmann::json::parse(text), "/vnfs/0/config");
  return r.ok() ? "ok" : r.status().message();
}

TEST(DpiConfig, DefaultsAndFullConfig) {
  auto d = ParseDpiConfig(nlohmann::json(), "/c");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->max_flows, 65536u);
  EXPECT_EQ(d->max_packets, 8u);
  EXPECT_EQ(d->snap_bytes, 1024u);
  EXPECT_EQ(d->ring_bytes, 4u << 20);
  auto c = ParseDpiConfig(nlohmann::json::parse(R"({"max_flows": 4096, "max_packets": 4,
      "snap_bytes": 256, "ring_bytes": 131072, "max_classifying": 1024, "idle_timeout_s": 30})"),
                          "/c");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->max_flows, 4096u);
  EXPECT_EQ(c->max_packets, 4u);
  EXPECT_EQ(c->snap_bytes, 256u);
  EXPECT_EQ(c->ring_bytes, 131072u);
  EXPECT_EQ(c->max_classifying, 1024u);
  EXPECT_EQ(c->idle_timeout_s, 30u);
}

TEST(DpiConfig, ErrorsNameTheField) {
  EXPECT_EQ(ConfigError("[]"), "/vnfs/0/config: expected object, got array");
  EXPECT_NE(ConfigError(R"({"max_flow": 10})").find("/vnfs/0/config/max_flow"), std::string::npos);
  EXPECT_NE(
      ConfigError(R"({"max_flows": 10})").find("/vnfs/0/config/max_flows: 10 is out of range"),
      std::string::npos);
  EXPECT_NE(ConfigError(R"({"max_packets": 0})").find("/vnfs/0/config/max_packets"),
            std::string::npos);
  EXPECT_NE(ConfigError(R"({"max_packets": 33})").find("/vnfs/0/config/max_packets"),
            std::string::npos);
  EXPECT_NE(ConfigError(R"({"snap_bytes": 63})").find("/vnfs/0/config/snap_bytes"),
            std::string::npos);
  EXPECT_NE(ConfigError(R"({"snap_bytes": 2049})").find("/vnfs/0/config/snap_bytes"),
            std::string::npos);
  EXPECT_NE(ConfigError(R"({"snap_bytes": "big"})").find("/vnfs/0/config/snap_bytes"),
            std::string::npos);
  EXPECT_EQ(ConfigError(R"({"ring_bytes": 100000})"),
            "/vnfs/0/config/ring_bytes: 100000 is not a power of two (a BPF ring buffer's size "
            "must be one)");
  EXPECT_NE(ConfigError(R"({"ring_bytes": 4096})").find("/vnfs/0/config/ring_bytes"),
            std::string::npos);
  EXPECT_NE(ConfigError(R"({"idle_timeout_s": 0})").find("/vnfs/0/config/idle_timeout_s"),
            std::string::npos);
  EXPECT_NE(ConfigError(R"({"max_flows": 2048, "max_classifying": 4096})")
                .find("/vnfs/0/config/max_classifying: 4096 is more than /vnfs/0/config/max_flows"),
            std::string::npos);
}

// A record as the program writes it: the frame from its IP header on.
struct Record {
  dpi_event ev{};
  Bytes ip;
};

Record MakeRecord(const Bytes& frame, uint8_t seq, bool reverse, uint32_t snap = DPI_SNAP_MAX) {
  Record r;
  r.ip.assign(frame.begin() + 14, frame.end());
  r.ev.ip_len = r.ip.size();
  if (r.ip.size() > snap) {
    r.ip.resize(snap);
    r.ev.flags |= DPI_EV_F_TRUNCATED;
  }
  r.ev.cap_len = r.ip.size();
  r.ev.seq = seq;
  r.ev.flags |= reverse ? DPI_EV_F_REVERSE : 0;
  r.ev.ts_ns = 1000000000ull * seq;
  // The key: tests use a client with the lower address, so it is "lo".
  uint32_t a, b;
  std::memcpy(&a, &r.ip[12], 4);
  std::memcpy(&b, &r.ip[16], 4);
  r.ev.key.family = 4;
  r.ev.key.proto = r.ip[9];
  uint16_t sp, dp;
  std::memcpy(&sp, &r.ip[20], 2);
  std::memcpy(&dp, &r.ip[22], 2);
  r.ev.key.addr_lo[0] = reverse ? b : a;
  r.ev.key.addr_hi[0] = reverse ? a : b;
  r.ev.key.port_lo = reverse ? dp : sp;
  r.ev.key.port_hi = reverse ? sp : dp;
  return r;
}

Bytes Text(const std::string& s) { return Bytes(s.begin(), s.end()); }

std::optional<Verdict> Feed(Classifier& c, const Record& r,
                            std::vector<std::pair<dpi_flow_key, Verdict>>* evicted = nullptr) {
  std::vector<std::pair<dpi_flow_key, Verdict>> ignored;
  return c.Feed(r.ev, r.ip.data(), evicted ? evicted : &ignored);
}

Bytes HttpRequest(uint16_t sport = 40000) {
  return PacketBuilder()
      .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
      .Ipv4("10.0.0.1", "10.0.0.2")
      .Tcp(sport, 80, test::kTcpAck | test::kTcpPsh)
      .Payload(Text("GET /index.html HTTP/1.1\r\nHost: www.example.test\r\n"
                    "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"))
      .Build();
}

// A DNS query for www.example.test, type A.
Bytes DnsQuery() {
  Bytes q = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  for (const char* label : {"www", "example", "test"}) {
    q.push_back(static_cast<uint8_t>(strlen(label)));
    q.insert(q.end(), label, label + strlen(label));
  }
  q.insert(q.end(), {0x00, 0x00, 0x01, 0x00, 0x01});
  return PacketBuilder()
      .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
      .Ipv4("10.0.0.1", "10.0.0.2")
      .Udp(50000, 53)
      .Payload(q)
      .Build();
}

const AppCatalog& Cat() { return AppCatalog::Get(); }

TEST(DpiClassifier, HttpRequestIsHttp) {
  Classifier c({8, 16});
  auto v = Feed(c, MakeRecord(HttpRequest(), 1, false));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->state, DPI_CLASSIFIED);
  EXPECT_EQ(Cat().AppName(v->app), "HTTP");
  EXPECT_EQ(Cat().CategoryName(v->category), "Web");
  EXPECT_EQ(c.active(), 0u);  // state freed with the verdict
  EXPECT_EQ(c.counters().classified, 1u);
}

TEST(DpiClassifier, DnsQueryIsDns) {
  Classifier c({8, 16});
  auto v = Feed(c, MakeRecord(DnsQuery(), 1, false));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(Cat().AppName(v->app), "DNS");
  EXPECT_EQ(v->state, DPI_CLASSIFIED);
}

TEST(DpiClassifier, TruncatedPacketIsStillClassified) {
  // 64 bytes from the IP header: 20 IP + 20 TCP + the request's first 24.
  Classifier c({8, 16});
  Record r = MakeRecord(HttpRequest(), 1, false, 64);
  ASSERT_TRUE(r.ev.flags & DPI_EV_F_TRUNCATED);
  auto v = Feed(c, r);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(Cat().AppName(v->app), "HTTP");
}

TEST(DpiClassifier, RandomBytesGiveUpUnknownAfterMaxPackets) {
  Classifier c({4, 16});
  Bytes noise(300);
  uint32_t x = 2463534242u;
  for (auto& b : noise) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  for (uint8_t seq = 1; seq <= 4; ++seq) {
    bool reverse = seq % 2 == 0;
    Bytes frame = PacketBuilder()
                      .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                      .Ipv4(reverse ? "10.0.0.2" : "10.0.0.1", reverse ? "10.0.0.1" : "10.0.0.2")
                      .Tcp(reverse ? 40123 : 51000, reverse ? 51000 : 40123, test::kTcpAck)
                      .Payload(noise)
                      .Build();
    auto v = Feed(c, MakeRecord(frame, seq, reverse));
    if (seq < 4) {
      ASSERT_FALSE(v.has_value()) << "seq " << int(seq) << ": " << Cat().AppName(v->app);
      EXPECT_EQ(c.active(), 1u);
    } else {
      ASSERT_TRUE(v.has_value());
      EXPECT_EQ(v->state, DPI_GIVEN_UP);
      EXPECT_EQ(v->reason, DPI_GIVEUP_PACKETS);
      EXPECT_EQ(v->app, 0);
    }
  }
  EXPECT_EQ(c.counters().given_up, 1u);
  EXPECT_EQ(c.active(), 0u);
}

TEST(DpiClassifier, FullTableEvictsTheLeastRecentlyFed) {
  Classifier c({8, 2});
  Bytes syn1 = PacketBuilder()
                   .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                   .Ipv4("10.0.0.1", "10.0.0.2")
                   .Tcp(1001, 9999, test::kTcpSyn)
                   .Build();
  Bytes syn2 = PacketBuilder()
                   .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                   .Ipv4("10.0.0.1", "10.0.0.2")
                   .Tcp(1002, 9999, test::kTcpSyn)
                   .Build();
  Bytes syn3 = PacketBuilder()
                   .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                   .Ipv4("10.0.0.1", "10.0.0.2")
                   .Tcp(1003, 9999, test::kTcpSyn)
                   .Build();
  Record r1 = MakeRecord(syn1, 1, false), r2 = MakeRecord(syn2, 1, false),
         r3 = MakeRecord(syn3, 1, false);
  EXPECT_FALSE(Feed(c, r1));
  EXPECT_FALSE(Feed(c, r2));
  std::vector<std::pair<dpi_flow_key, Verdict>> evicted;
  EXPECT_FALSE(Feed(c, r3, &evicted));
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(std::memcmp(&evicted[0].first, &r1.ev.key, sizeof(dpi_flow_key)), 0);
  EXPECT_EQ(evicted[0].second.state, DPI_GIVEN_UP);
  EXPECT_EQ(evicted[0].second.reason, DPI_GIVEUP_EVICTED);
  EXPECT_EQ(c.counters().evicted, 1u);
  EXPECT_FALSE(c.Tracking(r1.ev.key));
  EXPECT_TRUE(c.Tracking(r2.ev.key));
  EXPECT_TRUE(c.Tracking(r3.ev.key));
  // A later packet of the evicted flow starts nothing.
  Record late = MakeRecord(syn1, 2, false);
  EXPECT_FALSE(Feed(c, late));
  EXPECT_EQ(c.counters().late, 1u);
  EXPECT_EQ(c.active(), 2u);
  // Expiry drops what was fed before the cut (r2 and r3 at t=1 s).
  EXPECT_EQ(c.Expire(1000000001ull), 2u);
  EXPECT_EQ(c.active(), 0u);
  EXPECT_EQ(c.counters().expired, 2u);
}

TEST(DpiRequests, FlowFilterByAppName) {
  v1::ListDpiFlowsRequest req;
  req.set_app("http");
  auto f = ParseFlowFilter(req);
  ASSERT_TRUE(f.ok());
  dpi_flow v{};
  v.state = DPI_CLASSIFIED;
  v.app = *Cat().AppId("HTTP");
  EXPECT_TRUE(Matches(*f, v));
  v.app = *Cat().AppId("DNS");
  EXPECT_FALSE(Matches(*f, v));
  req.set_app("TLS");
  f = ParseFlowFilter(req);
  ASSERT_TRUE(f.ok());
  v.app = *Cat().AppId("Google");
  v.master = *Cat().AppId("TLS");
  EXPECT_TRUE(Matches(*f, v));  // the master matches too
  req.set_app("NoSuchProtocol");
  f = ParseFlowFilter(req);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message().rfind("app: \"NoSuchProtocol\" is not a protocol", 0), 0u);
}

}  // namespace
}  // namespace sfc::dpi
