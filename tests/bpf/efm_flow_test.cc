// eFM through a whole loaded chain (entry -> flowmon -> egress): what lands in
// the flow table for each protocol and family, VLANs, fragments, truncated
// frames; the application a dpi VNF labelled the flow with; exact counts
// under concurrency; LRU eviction accounting; and the exporter's IPFIX output
// for a flow that idles out.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include "dpi/app_catalog.h"
#include "efm/exporter.h"
#include "efm/flow_record.h"
#include "efm/ipfix.h"
#include "support/app_stamp.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

using efm::FlowKey;

// Timeouts long enough that the instance's own exporter never interferes.
std::string FlowChain(const std::string& config = "") {
  std::string cfg =
      config.empty()
          ? R"({"idle_timeout_s": 3600, "active_timeout_s": 7200, "scan_interval_ms": 60000})"
          : config;
  return R"({"name": "fm", "interfaces": ["lo"], "vnfs": [{"name": "mon", "type": "flowmon", "config": )" +
         cfg + "}]}";
}

std::unique_ptr<LoadedChain> Load(const std::string& spec = FlowChain()) {
  auto c = LoadedChain::Load(spec);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

FlowKey Key(const std::string& src, const std::string& dst, uint8_t proto, uint16_t sport,
            uint16_t dport, uint16_t vlan = 0, uint16_t inner = 0) {
  FlowKey k{};
  EXPECT_TRUE(efm::MakeFlowKey(src, dst, proto, sport, dport, &k));
  k.ifindex = 1;
  k.vlan_outer = vlan;
  k.vlan_inner = inner;
  return k;
}

// The entry for `key`, or nullopt.
std::optional<efm_flow> Lookup(LoadedChain& c, const FlowKey& key) {
  auto fd = c.OpenMap("mon", "flows");
  EXPECT_TRUE(fd.ok()) << fd.status().ToString();
  if (!fd.ok()) return std::nullopt;
  efm_flow v{};
  if (bpf_map_lookup_elem(fd->get(), &key, &v) != 0) return std::nullopt;
  return v;
}

size_t TableSize(LoadedChain& c) {
  auto fd = c.OpenMap("mon", "flows");
  if (!fd.ok()) return ~size_t{0};
  FlowKey k{}, next{};
  size_t n = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd->get(), prev, &next) == 0) {
    ++n;
    k = next;
    prev = &k;
  }
  return n;
}

uint64_t Counter(LoadedChain& c, const char* name) {
  auto v = c.VnfCounter("mon", name);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : ~0ull;
}

void Send(LoadedChain& c, const Bytes& frame, int expect = XDP_PASS) {
  auto run = c.Run(frame);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->action, expect) << XdpActionName(run->action);
}

TEST(EfmBpf, TcpIpv4FlowCountsPacketsBytesFlagsAndTimes) {
  auto c = Load();
  ASSERT_TRUE(c);
  const Bytes syn = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(40000, 80, kTcpSyn).Build();
  const Bytes data = PacketBuilder()
                         .Ipv4("10.0.0.1", "10.0.0.2")
                         .Tcp(40000, 80, kTcpAck | kTcpPsh)
                         .Payload(100)
                         .Build();
  const Bytes fin =
      PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(40000, 80, kTcpFin | kTcpAck).Build();
  Send(*c, syn);
  Send(*c, data);
  Send(*c, fin);
  auto f = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40000, 80));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->packets, 3u);
  EXPECT_EQ(f->bytes, (syn.size() - 14) + (data.size() - 14) + (fin.size() - 14));
  EXPECT_EQ(f->tcp_flags, kTcpSyn | kTcpAck | kTcpPsh | kTcpFin);
  EXPECT_GT(f->first_seen_ns, 0u);
  EXPECT_GE(f->last_seen_ns, f->first_seen_ns);
  EXPECT_EQ(Counter(*c, "flows_created"), 1u);
  EXPECT_EQ(Counter(*c, "ipv4_packets"), 3u);
  EXPECT_EQ(Counter(*c, "pass"), 3u);
  // The reverse direction is its own flow.
  Send(*c, PacketBuilder().Ipv4("10.0.0.2", "10.0.0.1").Tcp(80, 40000, kTcpSyn | kTcpAck).Build());
  EXPECT_TRUE(Lookup(*c, Key("10.0.0.2", "10.0.0.1", IPPROTO_TCP, 80, 40000)));
  EXPECT_EQ(Counter(*c, "flows_created"), 2u);
}

// A dpi VNF (played by app_stamp) labels a flow's packets once it has
// classified it: the flow keeps the first application named, from the
// packet that carried it on, and shows it through ListFlows.
TEST(EfmBpf, RecordsTheFirstApplication) {
  auto c = Load(R"({"name": "fmapp", "interfaces": ["lo"], "vnfs": [
      {"name": "dpi", "type": "app_stamp", "config": {}},
      {"name": "mon", "type": "flowmon", "config": {"idle_timeout_s": 3600,
          "active_timeout_s": 7200, "scan_interval_ms": 60000}}]})");
  ASSERT_TRUE(c);
  const auto& catalog = dpi::AppCatalog::Get();
  const uint16_t tls = *catalog.AppId("TLS"), google = *catalog.AppId("Google");
  const uint8_t web = *catalog.CategoryId("Web");
  const Bytes pkt = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(40000, 443, kTcpAck).Build();
  const auto key = Key("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 40000, 443);

  ASSERT_TRUE(SetStampedApp(*c, "dpi", 0, 0).ok());
  Send(*c, pkt);
  Send(*c, pkt);
  auto f = Lookup(*c, key);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->app, 0) << "not classified yet";

  ASSERT_TRUE(SetStampedApp(*c, "dpi", tls, web).ok());
  Send(*c, pkt);
  f = Lookup(*c, key);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->app, tls);
  EXPECT_EQ(f->app_category, web);

  // A later label does not replace the first, nor does an unlabelled packet.
  ASSERT_TRUE(SetStampedApp(*c, "dpi", google, web).ok());
  Send(*c, pkt);
  ASSERT_TRUE(SetStampedApp(*c, "dpi", 0, 0).ok());
  Send(*c, pkt);
  f = Lookup(*c, key);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->packets, 5u);
  EXPECT_EQ(f->app, tls);

  // A flow whose first packet is already labelled records it at insert.
  ASSERT_TRUE(SetStampedApp(*c, "dpi", google, web).ok());
  Send(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.3").Udp(5000, 443).Build());
  f = Lookup(*c, Key("10.0.0.1", "10.0.0.3", IPPROTO_UDP, 5000, 443));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->app, google);
  EXPECT_EQ(efm::ToCounters(*f).app, google);
  EXPECT_EQ(efm::ToCounters(*f).app_category, web);
}

TEST(EfmBpf, UdpIpv6BehindExtensionHeaders) {
  auto c = Load();
  ASSERT_TRUE(c);
  const Bytes frame = PacketBuilder()
                          .Ipv6("2001:db8::1", "2001:db8::2")
                          .Ipv6Ext(0)
                          .Ipv6Ext(60, 1)
                          .Udp(5353, 53)
                          .Payload(33)
                          .Build();
  Send(*c, frame);
  Send(*c, frame);
  auto f = Lookup(*c, Key("2001:db8::1", "2001:db8::2", IPPROTO_UDP, 5353, 53));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->packets, 2u);
  EXPECT_EQ(f->bytes, 2 * (frame.size() - 14));
  EXPECT_EQ(f->tcp_flags, 0u);
  EXPECT_EQ(Counter(*c, "ipv6_packets"), 2u);
}

TEST(EfmBpf, IcmpFlowsKeyOnTypeAndCode) {
  auto c = Load();
  ASSERT_TRUE(c);
  Send(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Icmp(8, 0, 77, 1).Payload(56).Build());
  Send(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Icmp(8, 0, 78, 2).Payload(56).Build());
  Send(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Icmp(3, 1).Payload(28).Build());
  Send(*c, PacketBuilder().Ipv6("2001:db8::1", "2001:db8::2").Icmp(128, 0, 5, 1).Build());
  auto echo = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 0, 8 << 8));
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->packets, 2u) << "echo identifiers do not split ICMP flows";
  auto unreach = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_ICMP, 0, 3 << 8 | 1));
  ASSERT_TRUE(unreach);
  EXPECT_EQ(unreach->packets, 1u);
  EXPECT_TRUE(Lookup(*c, Key("2001:db8::1", "2001:db8::2", IPPROTO_ICMPV6, 0, 128 << 8)));
}

TEST(EfmBpf, OtherProtocolsHaveNoPorts) {
  auto c = Load();
  ASSERT_TRUE(c);
  const Bytes gre = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Proto(47).Payload(40).Build();
  Send(*c, gre);
  auto f = Lookup(*c, Key("10.0.0.1", "10.0.0.2", 47, 0, 0));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bytes, gre.size() - 14);
}

TEST(EfmBpf, VlanTagsAreSeparateFlows) {
  auto c = Load();
  ASSERT_TRUE(c);
  auto frame = [](std::vector<uint16_t> tags) {
    PacketBuilder b;
    b.Eth("02:00:00:00:00:01", "02:00:00:00:00:02");
    for (size_t i = 0; i < tags.size(); ++i)
      b.Vlan(tags[i], tags.size() == 2 && i == 0 ? 0x88a8 : 0x8100);
    return b.Ipv4("10.0.0.1", "10.0.0.2").Udp(1000, 2000).Payload(10).Build();
  };
  Send(*c, frame({}));
  Send(*c, frame({100}));
  Send(*c, frame({100}));
  Send(*c, frame({200, 300}));
  EXPECT_EQ(Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1000, 2000))->packets, 1u);
  auto tagged = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1000, 2000, 100));
  ASSERT_TRUE(tagged);
  EXPECT_EQ(tagged->packets, 2u);
  EXPECT_EQ(tagged->bytes, 2 * (frame({100}).size() - 18)) << "IP bytes, not the tags";
  EXPECT_TRUE(Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1000, 2000, 200, 300)));
  EXPECT_EQ(Counter(*c, "flows_created"), 3u);
}

// Gives an untagged IPv4 frame another IP identification (checksum fixed).
Bytes WithIpv4Id(Bytes frame, uint16_t id) {
  frame[14 + 4] = static_cast<uint8_t>(id >> 8);
  frame[14 + 5] = static_cast<uint8_t>(id);
  frame[14 + 10] = frame[14 + 11] = 0;
  const uint16_t sum = static_cast<uint16_t>(~OnesSum(&frame[14], 20));
  frame[14 + 10] = static_cast<uint8_t>(sum >> 8);
  frame[14 + 11] = static_cast<uint8_t>(sum);
  return frame;
}

// Later fragments carry no ports: they take the first fragment's, by datagram
// (addresses, protocol, IP ID), or count in the port-less flow without it.
TEST(EfmBpf, FragmentsFollowTheirFirstFragment) {
  auto c = Load();
  ASSERT_TRUE(c);
  const Bytes first = PacketBuilder()
                          .Ipv4("10.0.0.1", "10.0.0.2")
                          .Ipv4Fragment(0, true)
                          .Udp(4000, 53)
                          .Payload(64)
                          .Build();
  const Bytes later = PacketBuilder()
                          .Ipv4("10.0.0.1", "10.0.0.2")
                          .Ipv4Fragment(72, false)
                          .Proto(IPPROTO_UDP)
                          .Payload(40)
                          .Build();
  ASSERT_TRUE(CheckFrame(WithIpv4Id(later, 0x9999)).l3_csum_ok);
  Send(*c, first);
  Send(*c, later);
  Send(*c, WithIpv4Id(later, 0x9999));  // another datagram, its head never seen
  auto flow = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 4000, 53));
  ASSERT_TRUE(flow);
  EXPECT_EQ(flow->packets, 2u);
  EXPECT_EQ(flow->bytes, (first.size() - 14) + (later.size() - 14));
  auto portless = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 0, 0));
  ASSERT_TRUE(portless);
  EXPECT_EQ(portless->packets, 1u);

  const Bytes first6 = PacketBuilder()
                           .Ipv6("2001:db8::1", "2001:db8::2")
                           .Ipv6Fragment(0, true, 7)
                           .Udp(5000, 53)
                           .Payload(64)
                           .Build();
  auto later6 = [](uint32_t id) {
    return PacketBuilder()
        .Ipv6("2001:db8::1", "2001:db8::2")
        .Ipv6Fragment(72, false, id)
        .Proto(IPPROTO_UDP)
        .Payload(100)
        .Build();
  };
  Send(*c, first6);
  Send(*c, later6(7));
  Send(*c, later6(8));
  auto flow6 = Lookup(*c, Key("2001:db8::1", "2001:db8::2", IPPROTO_UDP, 5000, 53));
  ASSERT_TRUE(flow6);
  EXPECT_EQ(flow6->packets, 2u);
  auto portless6 = Lookup(*c, Key("2001:db8::1", "2001:db8::2", IPPROTO_UDP, 0, 0));
  ASSERT_TRUE(portless6);
  EXPECT_EQ(portless6->packets, 1u);

  EXPECT_EQ(Counter(*c, "fragments"), 4u);
  EXPECT_EQ(Counter(*c, "fragments_unmatched"), 2u);
}

TEST(EfmBpf, EthernetPaddingIsNotCounted) {
  auto c = Load();
  ASSERT_TRUE(c);
  Bytes ack = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2, kTcpAck).Build();
  ASSERT_EQ(ack.size(), 54u);
  ack.resize(60, 0);  // minimum Ethernet frame
  Send(*c, ack);
  auto f = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 1, 2));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bytes, 40u);
  EXPECT_EQ(Counter(*c, "rx_bytes"), 60u) << "the VNF's own counter is per frame";
}

TEST(EfmBpf, TruncatedFramesNeverReachTheTable) {
  auto c = Load();
  ASSERT_TRUE(c);
  Bytes tcp = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1, 2).Build();
  tcp.resize(14 + 20 + 10);  // half a TCP header
  Send(*c, tcp, XDP_DROP);
  Bytes v6 = PacketBuilder().Ipv6("2001:db8::1", "2001:db8::2").Udp(1, 2).Build();
  v6.resize(14 + 30);
  Send(*c, v6, XDP_DROP);
  EXPECT_EQ(Counter(*c, "rx_packets"), 0u);
  EXPECT_EQ(TableSize(*c), 0u);
}

// Two CPUs hammering the same flow: atomic adds lose nothing.
TEST(EfmBpf, CountsAreExactAcrossCpus) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs two CPUs";
  auto c = Load();
  ASSERT_TRUE(c);
  const Bytes frame = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(7, 9).Payload(18).Build();
  constexpr uint32_t kRepeat = 200000;
  auto worker = [&](int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
    auto run = RunXdp(c->entry_fd(), frame, 1, kRepeat);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  auto f = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 7, 9));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->packets, 2ull * kRepeat);
  EXPECT_EQ(f->bytes, 2ull * kRepeat * (frame.size() - 14));
  EXPECT_EQ(Counter(*c, "flows_created"), 1u) << "a racing insert must not create a second entry";
}

std::vector<efm::ExportedRecord> Drain(efm::FlowWatcher& w) {
  std::vector<efm::ExportedRecord> all, batch;
  while (w.Pop(&batch, 0) && !batch.empty()) all.insert(all.end(), batch.begin(), batch.end());
  return all;
}

VnfInstanceInfo Instance(LoadedChain& c) {
  VnfInstanceInfo info{"fm", "mon", "flowmon", c.PinPath("mon", ""), 0};
  info.pin_dir.pop_back();  // PinPath(vnf, "") ends in '/'
  return info;
}

// A full table evicts; the exporter counts what the LRU dropped silently.
TEST(EfmBpf, FullTableEvictsAndEvictionsAreCounted) {
  auto c = Load(FlowChain(R"({"max_flows": 512, "idle_timeout_s": 3600, "active_timeout_s": 7200,
                              "scan_interval_ms": 60000})"));
  ASSERT_TRUE(c);
  efm::FlowmonConfig cfg;
  cfg.idle_timeout_s = 3600;
  cfg.active_timeout_s = 7200;
  efm::FlowExporter exporter(Instance(*c), cfg);
  ASSERT_TRUE(exporter.ScanOnce().ok());  // baseline: empty table

  constexpr int kFlows = 5000;
  for (int i = 0; i < kFlows; ++i)
    Send(*c, PacketBuilder()
                 .Ipv4("10.0.0.1", "10.0.0.2")
                 .Udp(static_cast<uint16_t>(1024 + i), 53)
                 .Build());
  const size_t live = TableSize(*c);
  EXPECT_LE(live, 512u);
  EXPECT_GT(live, 0u);
  EXPECT_EQ(Counter(*c, "flows_created"), static_cast<uint64_t>(kFlows));
  EXPECT_EQ(Counter(*c, "flow_insert_fail"), 0u);
  ASSERT_TRUE(exporter.ScanOnce().ok());
  auto s = exporter.Summary();
  EXPECT_EQ(s.totals.active_flows, live);
  EXPECT_EQ(s.totals.evictions, kFlows - live);
  EXPECT_EQ(s.max_flows, 512u);
}

// sfcd restarts between two records of a long flow: the new exporter goes on
// with deltas (pinned `exported` map) instead of exporting the flow again.
TEST(EfmBpf, RestartedExporterDoesNotExportTwice) {
  auto c = Load();
  ASSERT_TRUE(c);
  efm::FlowmonConfig cfg;
  cfg.idle_timeout_s = 3600;
  cfg.active_timeout_s = 1;
  const Bytes frame = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(5, 6).Payload(10).Build();
  uint64_t exported = 0;
  {
    efm::FlowExporter first(Instance(*c), cfg);
    auto w = first.Watch();
    for (int i = 0; i < 5; ++i) Send(*c, frame);
    ASSERT_TRUE(first.ScanOnce().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    ASSERT_TRUE(first.ScanOnce().ok());
    for (const auto& r : Drain(*w)) {
      EXPECT_EQ(r.record.reason, efm::EndReason::kActiveTimeout);
      exported += r.record.packets;
    }
    EXPECT_EQ(exported, 5u);
  }  // sfcd goes away; the table and the export state stay pinned
  auto saved = c->OpenMap("mon", "exported");
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  FlowKey k = Key("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 5, 6);
  efm_export_state st{};
  ASSERT_EQ(bpf_map_lookup_elem(saved->get(), &k, &st), 0);
  EXPECT_EQ(st.packets, 5u);

  for (int i = 0; i < 3; ++i) Send(*c, frame);
  efm::FlowExporter second(Instance(*c), cfg);
  auto w = second.Watch();
  ASSERT_TRUE(second.ScanOnce().ok());
  ASSERT_TRUE(second.ScanOnce(/*final=*/true).ok());
  uint64_t later = 0;
  for (const auto& r : Drain(*w)) later += r.record.packets;
  EXPECT_EQ(later, 3u) << "only the packets since the last record";
  EXPECT_NE(bpf_map_lookup_elem(saved->get(), &k, &st), 0) << "state of an ended flow is dropped";
}

// Re-applying the chain with new timeouts keeps the table.
TEST(EfmBpf, ReapplyKeepsFlows) {
  auto c = Load();
  ASSERT_TRUE(c);
  Send(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build());
  const std::string edited =
      FlowChain(R"({"idle_timeout_s": 1800, "active_timeout_s": 3600, "scan_interval_ms": 60000})");
  ASSERT_TRUE(c->Reapply(edited).ok());
  Send(*c, PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(1, 2).Build());
  auto f = Lookup(*c, Key("10.0.0.1", "10.0.0.2", IPPROTO_UDP, 1, 2));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->packets, 2u);
}

// --- the instance's own exporter, end to end over UDP -----------------------

class Collector {
 public:
  explicit Collector(int family = AF_INET) : fd_(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof(*sin);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_addr = in6addr_loopback;
      len = sizeof(*sin6);
    }
    EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&ss), len), 0);
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                    : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  uint16_t port() const { return port_; }

  // Receives messages until `done` says so or the deadline passes.
  template <typename Fn>
  bool ReceiveUntil(Fn&& done, std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      std::vector<uint8_t> buf(65536);
      ssize_t n = recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n <= 0) continue;
      buf.resize(n);
      if (done(buf)) return true;
    }
    return false;
  }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
};

uint16_t Get16(const std::vector<uint8_t>& b, size_t o) {
  return static_cast<uint16_t>(b[o] << 8 | b[o + 1]);
}
uint64_t Get64(const std::vector<uint8_t>& b, size_t o) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | b[o + i];
  return v;
}

// What a collector made of the messages it got.
struct Received {
  bool templates = false;
  uint32_t domain = 0;
  uint64_t records4 = 0, packets4 = 0, octets4 = 0;
  uint64_t records6 = 0, packets6 = 0, octets6 = 0;
  uint8_t reason = 0;

  void Add(const std::vector<uint8_t>& m) {
    EXPECT_EQ(Get16(m, 0), 10);
    EXPECT_EQ(Get16(m, 2), m.size());
    domain = static_cast<uint32_t>(Get16(m, 12)) << 16 | Get16(m, 14);
    for (size_t off = 16; off + 4 <= m.size();) {
      const uint16_t id = Get16(m, off), len = Get16(m, off + 2);
      if (len < 4) break;
      if (id == efm::kIpfixTemplateSetId) templates = true;
      if (id == efm::kIpfixTemplateV4)
        for (size_t r = off + 4; r + 58 <= off + len; r += 58) {
          ++records4;
          octets4 += Get64(m, r + 25);
          packets4 += Get64(m, r + 33);
          reason = m[r + 57];
        }
      if (id == efm::kIpfixTemplateV6)
        for (size_t r = off + 4; r + 82 <= off + len; r += 82) {
          ++records6;
          octets6 += Get64(m, r + 49);
          packets6 += Get64(m, r + 57);
        }
      off += len;
    }
  }
};

// Both families of flows, to an IPv4 and an IPv6 collector alike.
TEST(EfmBpf, IdleFlowsAreExportedOnceToEveryCollector) {
  Collector v4(AF_INET), v6(AF_INET6);
  auto c = Load(FlowChain(R"({"idle_timeout_s": 1, "active_timeout_s": 60, "scan_interval_ms": 100,
      "ipfix": {"collectors": ["127.0.0.1:)" +
                          std::to_string(v4.port()) + R"(", "[::1]:)" + std::to_string(v6.port()) +
                          R"("], "observation_domain": 9}})"));
  ASSERT_TRUE(c);
  const Bytes frame =
      PacketBuilder().Ipv4("10.1.1.1", "10.2.2.2").Tcp(33333, 443, kTcpAck).Payload(60).Build();
  const Bytes frame6 =
      PacketBuilder().Ipv6("2001:db8::a", "2001:db8::b").Udp(4444, 53).Payload(30).Build();
  for (int i = 0; i < 7; ++i) Send(*c, frame);
  for (int i = 0; i < 3; ++i) Send(*c, frame6);

  for (Collector* col : {&v4, &v6}) {
    Received got;
    bool done = col->ReceiveUntil(
        [&](const std::vector<uint8_t>& m) {
          got.Add(m);
          return got.records4 > 0 && got.records6 > 0;
        },
        std::chrono::seconds(5));
    ASSERT_TRUE(done) << "collector " << (col == &v4 ? "v4" : "v6") << ": records " << got.records4
                      << "/" << got.records6;
    EXPECT_TRUE(got.templates);
    EXPECT_EQ(got.domain, 9u);
    EXPECT_EQ(got.records4, 1u);
    EXPECT_EQ(got.packets4, 7u);
    EXPECT_EQ(got.octets4, 7 * (frame.size() - 14));
    EXPECT_EQ(got.reason, static_cast<uint8_t>(efm::EndReason::kIdleTimeout));
    EXPECT_EQ(got.records6, 1u);
    EXPECT_EQ(got.packets6, 3u);
    EXPECT_EQ(got.octets6, 3 * (frame6.size() - 14));
  }
  EXPECT_FALSE(Lookup(*c, Key("10.1.1.1", "10.2.2.2", IPPROTO_TCP, 33333, 443)))
      << "the expired flow left the table";
}

// A new max_flows needs a new table: what the old one held is exported as
// forced-end, and the new table starts empty.
TEST(EfmBpf, ResizedTableFlushesTheOldOne) {
  Collector collector;
  auto spec = [&](int max_flows) {
    return FlowChain(R"({"max_flows": )" + std::to_string(max_flows) +
                     R"(, "idle_timeout_s": 3600, "active_timeout_s": 7200, "scan_interval_ms": 100,
        "ipfix": {"collectors": ["127.0.0.1:)" +
                     std::to_string(collector.port()) + R"("]}})");
  };
  auto c = Load(spec(4096));
  ASSERT_TRUE(c);
  const Bytes frame = PacketBuilder().Ipv4("10.3.3.3", "10.4.4.4").Udp(1111, 2222).Build();
  for (int i = 0; i < 4; ++i) Send(*c, frame);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the exporter has seen it
  ASSERT_TRUE(c->Reapply(spec(8192)).ok());
  EXPECT_FALSE(Lookup(*c, Key("10.3.3.3", "10.4.4.4", IPPROTO_UDP, 1111, 2222)));

  Received seen;
  bool got = collector.ReceiveUntil(
      [&](const std::vector<uint8_t>& m) {
        seen.Add(m);
        return seen.records4 > 0;
      },
      std::chrono::seconds(5));
  ASSERT_TRUE(got) << "the old table's flow was not exported";
  EXPECT_EQ(seen.packets4, 4u);
  EXPECT_EQ(seen.reason, static_cast<uint8_t>(efm::EndReason::kForcedEnd));
}

}  // namespace
}  // namespace sfc::test
