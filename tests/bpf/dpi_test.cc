// dpi through a whole loaded chain (entry -> dpi -> egress): the records the
// program copies to the ring buffer (first packets, both directions, bytes,
// flags, truncation), one entry per flow for both directions, labels on
// classified flows (pkt->app), ring-full accounting, and the real classifier
// thread labelling an HTTP flow.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "common/failpoint.h"
#include "dpi/app_catalog.h"
#include "dpi/dpi.h"
#include "dpi/maps.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

using dpi::AppCatalog;

std::string DpiChain(const std::string& config) {
  return R"({"name": "dpit", "interfaces": ["lo"], "vnfs": [{"name": "dpi", "type": "dpi", "config": )" +
         config + R"(}], "egress": {"action": "pass"}})";
}

// Loads the chain with the classifier thread off: the test reads the ring.
std::unique_ptr<LoadedChain> LoadQuiet(const std::string& config) {
  failpoint::Arm("dpi.classifier_start", failpoint::Action::kError);
  auto c = LoadedChain::Load(DpiChain(config));
  failpoint::DisarmAll();
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

struct Rec {
  dpi_event ev;
  Bytes data;
};

std::vector<Rec> Drain(LoadedChain& c) {
  std::vector<Rec> out;
  auto fd = c.OpenMap("dpi", "ring");
  EXPECT_TRUE(fd.ok()) << fd.status().ToString();
  if (!fd.ok()) return out;
  auto cb = [](void* ctx, void* data, size_t size) -> int {
    auto* v = static_cast<std::vector<Rec>*>(ctx);
    Rec r{};
    std::memcpy(&r.ev, data, sizeof(dpi_event));
    EXPECT_EQ(size, sizeof(dpi_event) + r.ev.cap_len);
    const auto* p = static_cast<const uint8_t*>(data) + sizeof(dpi_event);
    r.data.assign(p, p + r.ev.cap_len);
    v->push_back(std::move(r));
    return 0;
  };
  ring_buffer* rb = ring_buffer__new(fd->get(), cb, &out, nullptr);
  EXPECT_NE(rb, nullptr);
  if (rb) {
    ring_buffer__consume(rb);
    ring_buffer__free(rb);
  }
  return out;
}

Bytes Frame(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
            uint8_t flags, size_t payload, bool udp = false) {
  PacketBuilder b;
  b.Eth("02:00:00:00:00:01", "02:00:00:00:00:02").Ipv4(src, dst);
  if (udp)
    b.Udp(sport, dport);
  else
    b.Tcp(sport, dport, flags);
  return b.Payload(payload).Build();
}

uint64_t Counter(LoadedChain& c, const char* name) {
  auto v = c.VnfCounter("dpi", name);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : ~0ull;
}

std::vector<std::pair<dpi_flow_key, dpi_flow>> Flows(LoadedChain& c) {
  std::vector<std::pair<dpi_flow_key, dpi_flow>> out;
  auto fd = c.OpenMap("dpi", "flows");
  if (!fd.ok()) return out;
  dpi_flow_key k{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd->get(), prev, &next) == 0) {
    k = next;
    prev = &k;
    dpi_flow v{};
    if (bpf_map_lookup_elem(fd->get(), &k, &v) == 0) out.emplace_back(k, v);
  }
  return out;
}

TEST(DpiBpf, FirstPacketsOfBothDirectionsGoToTheRingInOrder) {
  auto c = LoadQuiet(R"({"max_packets": 3, "snap_bytes": 128})");
  ASSERT_TRUE(c);
  const Bytes syn = Frame("10.0.0.1", "10.0.0.2", 40000, 80, kTcpSyn, 0);
  const Bytes synack = Frame("10.0.0.2", "10.0.0.1", 80, 40000, kTcpSyn | kTcpAck, 0);
  const Bytes data = Frame("10.0.0.1", "10.0.0.2", 40000, 80, kTcpAck | kTcpPsh, 300);
  const Bytes more = Frame("10.0.0.2", "10.0.0.1", 80, 40000, kTcpAck, 100);
  for (const Bytes* f : {&syn, &synack, &data, &more}) {
    auto run = c->Run(*f);
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->action, XDP_PASS);
    EXPECT_EQ(run->out, *f);  // never modified
  }
  std::vector<Rec> recs = Drain(*c);
  ASSERT_EQ(recs.size(), 3u);  // max_packets: the fourth is not copied
  const Bytes* frames[] = {&syn, &synack, &data};
  for (size_t i = 0; i < 3; ++i) {
    const Rec& r = recs[i];
    const Bytes& f = *frames[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(r.ev.seq, i + 1);
    EXPECT_EQ(std::memcmp(&r.ev.key, &recs[0].ev.key, sizeof(dpi_flow_key)), 0);
    EXPECT_EQ(r.ev.ip_len, f.size() - 14);
    const size_t want = std::min<size_t>(f.size() - 14, 128);
    ASSERT_EQ(r.ev.cap_len, want);
    EXPECT_EQ(r.data, Bytes(f.begin() + 14, f.begin() + 14 + want));
    EXPECT_EQ((r.ev.flags & DPI_EV_F_TRUNCATED) != 0, want < f.size() - 14);
  }
  // 10.0.0.1:40000 is the lower endpoint: the SYN-ACK goes hi -> lo.
  EXPECT_EQ(recs[0].ev.flags & DPI_EV_F_REVERSE, 0);
  EXPECT_NE(recs[1].ev.flags & DPI_EV_F_REVERSE, 0);
  EXPECT_EQ(recs[2].ev.flags & DPI_EV_F_REVERSE, 0);
  const dpi_flow_key& k = recs[0].ev.key;
  EXPECT_EQ(k.family, 4);
  EXPECT_EQ(k.proto, IPPROTO_TCP);
  EXPECT_EQ(k.addr_lo[0], inet_addr("10.0.0.1"));
  EXPECT_EQ(k.addr_hi[0], inet_addr("10.0.0.2"));
  EXPECT_EQ(k.port_lo, htons(40000));
  EXPECT_EQ(k.port_hi, htons(80));
  EXPECT_EQ(std::memcmp(k.pad, "\0\0", 2), 0);

  // One entry for both directions, still pending (nobody classified it).
  auto flows = Flows(*c);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].second.packets, 4u);
  EXPECT_EQ(flows[0].second.bytes, syn.size() + synack.size() + data.size() + more.size());
  EXPECT_EQ(flows[0].second.fed, 4u);
  EXPECT_EQ(flows[0].second.state, DPI_PENDING);
  EXPECT_EQ(Counter(*c, "dpi_flows_created"), 1u);
  EXPECT_EQ(Counter(*c, "dpi_fed"), 3u);
  EXPECT_EQ(Counter(*c, "dpi_fed_bytes"), 40u + 40u + 128u);
  EXPECT_EQ(Counter(*c, "dpi_ring_full"), 0u);
  EXPECT_EQ(Counter(*c, "pass"), 4u);
  // Unlabelled: pkt->app stays Unknown.
  auto last = c->LastPacket();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->app, 0);
}

TEST(DpiBpf, Ipv6AndUdpFlowsShareOneEntryPerFlow) {
  auto c = LoadQuiet("{}");
  ASSERT_TRUE(c);
  const Bytes q = PacketBuilder()
                      .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                      .Ipv6("fd00::20", "fd00::10")
                      .Udp(5353, 53)
                      .Payload(40)
                      .Build();
  const Bytes a = PacketBuilder()
                      .Eth("02:00:00:00:00:02", "02:00:00:00:00:01")
                      .Ipv6("fd00::10", "fd00::20")
                      .Udp(53, 5353)
                      .Payload(80)
                      .Build();
  ASSERT_TRUE(c->Run(q).ok());
  ASSERT_TRUE(c->Run(a).ok());
  auto recs = Drain(*c);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(std::memcmp(&recs[0].ev.key, &recs[1].ev.key, sizeof(dpi_flow_key)), 0);
  EXPECT_EQ(recs[0].ev.key.family, 6);
  EXPECT_EQ(recs[0].ev.key.proto, IPPROTO_UDP);
  // fd00::10 < fd00::20: the query goes hi -> lo.
  EXPECT_NE(recs[0].ev.flags & DPI_EV_F_REVERSE, 0);
  EXPECT_EQ(recs[1].ev.flags & DPI_EV_F_REVERSE, 0);
  EXPECT_EQ(recs[0].data, Bytes(q.begin() + 14, q.end()));
  EXPECT_EQ(Flows(*c).size(), 1u);
}

TEST(DpiBpf, ClassifiedFlowLabelsEveryPacketAndFeedsNoMore) {
  auto c = LoadQuiet("{}");
  ASSERT_TRUE(c);
  const Bytes req = Frame("10.0.0.1", "10.0.0.2", 40000, 80, kTcpAck, 50);
  const Bytes resp = Frame("10.0.0.2", "10.0.0.1", 80, 40000, kTcpAck, 50);
  ASSERT_TRUE(c->Run(req).ok());
  auto recs = Drain(*c);
  ASSERT_EQ(recs.size(), 1u);
  // What the classifier thread writes for an answer.
  const uint16_t http = *AppCatalog::Get().AppId("HTTP");
  auto fd = c->OpenMap("dpi", "flows");
  ASSERT_TRUE(fd.ok());
  dpi_flow v{};
  ASSERT_EQ(bpf_map_lookup_elem(fd->get(), &recs[0].ev.key, &v), 0);
  v.state = DPI_CLASSIFIED;
  v.app = http;
  v.category = 5;
  ASSERT_EQ(bpf_map_update_elem(fd->get(), &recs[0].ev.key, &v, BPF_EXIST), 0);

  for (const Bytes* f : {&req, &resp, &req}) {
    auto run = c->Run(*f);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->action, XDP_PASS);
    auto last = c->LastPacket();
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(last->app, http);  // what the stages after dpi see
    EXPECT_EQ(last->app_category, 5);
  }
  EXPECT_TRUE(Drain(*c).empty());
  EXPECT_EQ(Counter(*c, "dpi_fed"), 1u);
  ASSERT_EQ(bpf_map_lookup_elem(fd->get(), &recs[0].ev.key, &v), 0);
  EXPECT_EQ(v.packets, 4u);
  EXPECT_EQ(v.app, http);

  // Another flow, at the same time, is not labelled by it.
  const Bytes syn = Frame("10.0.0.1", "10.0.0.2", 40001, 80, kTcpSyn, 0);
  ASSERT_TRUE(c->Run(syn).ok());
  auto last = c->LastPacket();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->app, 0);

  // Per-application traffic: the three labelled packets under HTTP, the two
  // first packets (pending) under Unknown.
  auto apps_fd = c->OpenMap("dpi", "app_stats");
  ASSERT_TRUE(apps_fd.ok());
  auto apps = dpi::ReadAppCounters(apps_fd->get());
  ASSERT_TRUE(apps.ok()) << apps.status().ToString();
  EXPECT_EQ(apps->size(), 2u);
  EXPECT_EQ((*apps)[http].packets, 3u);
  EXPECT_EQ((*apps)[http].bytes, 2 * req.size() + resp.size());
  EXPECT_EQ((*apps)[0].packets, 2u);
  EXPECT_EQ((*apps)[0].bytes, req.size() + syn.size());
}

TEST(DpiBpf, NonTcpUdpIsNotInspected) {
  auto c = LoadQuiet("{}");
  ASSERT_TRUE(c);
  const Bytes ping = PacketBuilder()
                         .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                         .Ipv4("10.0.0.1", "10.0.0.2")
                         .Icmp(8, 0, 1, 1)
                         .Build();
  auto run = c->Run(ping);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);
  EXPECT_EQ(Counter(*c, "dpi_not_inspected"), 1u);
  EXPECT_TRUE(Drain(*c).empty());
  EXPECT_TRUE(Flows(*c).empty());
}

TEST(DpiBpf, FullRingIsCountedAndGivesTheFlowUpWithoutSlowingIt) {
  // 64 KiB of ring, 1500-byte frames copied whole: about 40 records fit.
  auto c = LoadQuiet(R"({"ring_bytes": 65536, "snap_bytes": 2048})");
  ASSERT_TRUE(c);
  constexpr int kFlows = 100;
  for (int i = 0; i < kFlows; ++i) {
    auto run = c->Run(Frame("10.0.0.1", "10.0.0.2", 10000 + i, 443, kTcpAck, 1400));
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->action, XDP_PASS);  // never held up, never dropped
  }
  const uint64_t full = Counter(*c, "dpi_ring_full");
  const uint64_t fed = Counter(*c, "dpi_fed");
  EXPECT_GT(full, 0u);
  EXPECT_GT(fed, 30u);
  EXPECT_EQ(full + fed, static_cast<uint64_t>(kFlows));
  EXPECT_EQ(Counter(*c, "dpi_gave_up_ring"), full);
  uint64_t given_up = 0;
  for (const auto& [k, v] : Flows(*c)) {
    if (v.state == DPI_GIVEN_UP) {
      EXPECT_EQ(v.reason, DPI_GIVEUP_RING_FULL);
      ++given_up;
    }
  }
  EXPECT_EQ(given_up, full);
  // A given-up flow is not fed again even once the ring has room.
  EXPECT_EQ(Drain(*c).size(), fed);
  ASSERT_TRUE(c->Run(Frame("10.0.0.1", "10.0.0.2", 10000 + kFlows - 1, 443, kTcpAck, 100)).ok());
  EXPECT_TRUE(Drain(*c).empty());
  EXPECT_EQ(Counter(*c, "dpi_ring_full"), full);
}

TEST(DpiBpf, ClassifierThreadLabelsAnHttpFlow) {
  auto loaded = LoadedChain::Load(DpiChain("{}"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  LoadedChain& c = **loaded;
  const Bytes get = PacketBuilder()
                        .Eth("02:00:00:00:00:01", "02:00:00:00:00:02")
                        .Ipv4("10.0.0.1", "10.0.0.2")
                        .Tcp(40000, 80, kTcpAck | kTcpPsh)
                        .Payload([] {
                          std::string s =
                              "GET / HTTP/1.1\r\nHost: www.example.test\r\nAccept: */*\r\n\r\n";
                          return Bytes(s.begin(), s.end());
                        }())
                        .Build();
  ASSERT_TRUE(c.Run(get).ok());
  const uint16_t http = *AppCatalog::Get().AppId("HTTP");
  bool labelled = false;
  for (int i = 0; i < 100 && !labelled; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (const auto& [k, v] : Flows(c))
      labelled = labelled || (v.state == DPI_CLASSIFIED && v.app == http);
  }
  ASSERT_TRUE(labelled) << "the classifier did not label the flow HTTP within 2 s";
  ASSERT_TRUE(c.Run(get).ok());
  auto last = c.LastPacket();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->app, http);
  EXPECT_EQ(AppCatalog::Get().CategoryName(last->app_category), "Web");
}

}  // namespace
}  // namespace sfc::test
