// eLB through a whole loaded chain (entry -> loadbalancer -> egress "pass"):
// backend selection and balance, connection affinity across chain edits,
// draining and removal, DNAT and the reverse translation, DSR, checksums of
// every rewrite against a frame built from scratch, traffic that must pass
// untouched, fragments, and the live gRPC API on the running maps.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "common/fd.h"
#include "elb/config.h"
#include "elb/elb.h"
#include "sfc/v1/loadbalancer.grpc.pb.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

using nlohmann::json;

constexpr const char* kClientMac = "02:00:00:00:00:01";
constexpr const char* kLbMac = "02:00:00:00:00:02";

std::string Chain(const json& lb_config) {
  json spec = {{"name", "lbt"},
               {"interfaces", {"lo"}},
               {"vnfs", {{{"name", "lb"}, {"type", "loadbalancer"}, {"config", lb_config}}}},
               {"egress", {{"action", "pass"}}}};
  return spec.dump();
}

json Web(std::vector<json> backends, json extra = json::object()) {
  json svc = {{"name", "web"},
              {"vip", "10.0.0.100"},
              {"proto", "tcp"},
              {"port", 80},
              {"backends", backends}};
  svc.update(extra);
  return {{"max_connections", 65536}, {"services", {svc}}};
}

json B(const std::string& addr, int port = 8080, int weight = 1) {
  return {{"address", addr}, {"port", port}, {"weight", weight}};
}

std::unique_ptr<LoadedChain> Load(const json& lb_config) {
  auto c = LoadedChain::Load(Chain(lb_config));
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

Bytes Syn(const std::string& client, uint16_t sport, const std::string& vip = "10.0.0.100",
          uint16_t dport = 80, uint8_t flags = kTcpSyn) {
  return PacketBuilder()
      .Eth(kClientMac, kLbMac)
      .Ipv4(client, vip)
      .Tcp(sport, dport, flags, 1000, 0)
      .Payload(16)
      .Build();
}

// Addresses and ports of a frame, read back after a program rewrote it.
struct Tuple {
  std::string src, dst;
  uint16_t sport = 0, dport = 0;
  bool operator==(const Tuple&) const = default;
};

Tuple ReadTuple(const Bytes& f) {
  FrameInfo fi = CheckFrame(f);
  EXPECT_TRUE(fi.ok) << fi.error;
  Tuple t;
  char buf[INET6_ADDRSTRLEN];
  if (fi.family == 4) {
    t.src = inet_ntop(AF_INET, &f[fi.l3_off + 12], buf, sizeof(buf));
    t.dst = inet_ntop(AF_INET, &f[fi.l3_off + 16], buf, sizeof(buf));
  } else {
    t.src = inet_ntop(AF_INET6, &f[fi.l3_off + 8], buf, sizeof(buf));
    t.dst = inet_ntop(AF_INET6, &f[fi.l3_off + 24], buf, sizeof(buf));
  }
  t.sport = (f[fi.l4_off] << 8) | f[fi.l4_off + 1];
  t.dport = (f[fi.l4_off + 2] << 8) | f[fi.l4_off + 3];
  return t;
}

uint64_t Counter(LoadedChain& c, const std::string& name) {
  auto v = c.VnfCounter("lb", name);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : 0;
}

// Sends a SYN through the chain and returns the backend address it went to
// ("" when not forwarded).
std::string BackendOf(LoadedChain& c, const std::string& client, uint16_t sport,
                      uint8_t flags = kTcpSyn) {
  auto r = c.Run(Syn(client, sport, "10.0.0.100", 80, flags));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || r->action != XDP_PASS) return "";
  FrameInfo fi = CheckFrame(r->out);
  EXPECT_TRUE(fi.ok && fi.l3_csum_ok && fi.l4_csum_ok) << fi.error;
  return ReadTuple(r->out).dst;
}

TEST(ElbBpf, NonMatchingTrafficPassesUntouched) {
  auto c = Load(Web({B("10.0.1.2"), B("10.0.1.3")}));
  ASSERT_TRUE(c);
  std::vector<Bytes> frames = {
      Syn("192.0.2.1", 1000, "10.0.0.101", 80),  // other IP
      Syn("192.0.2.1", 1000, "10.0.0.100", 81),  // other port
      PacketBuilder()
          .Eth(kClientMac, kLbMac)
          .Ipv4("192.0.2.1", "10.0.0.100")
          .Udp(1000, 80)
          .Payload(8)
          .Build(),
      PacketBuilder()
          .Eth(kClientMac, kLbMac)
          .Ipv4("192.0.2.1", "10.0.0.100")
          .Icmp(8, 0, 7, 1)
          .Build(),
      PacketBuilder()
          .Eth(kClientMac, kLbMac)
          .Ipv6("2001:db8::1", "2001:db8::100")
          .Tcp(1000, 80)
          .Build(),
      PacketBuilder()
          .Eth(kClientMac, kLbMac)
          .Ipv4("192.0.2.1", "10.0.0.100")
          .Proto(47)
          .Payload(20)
          .Build(),
  };
  for (const auto& f : frames) {
    auto r = c->Run(f);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->action, XDP_PASS);
    EXPECT_EQ(r->out, f) << "a frame that is not for a service must not change";
  }
  EXPECT_EQ(Counter(*c, "rx_packets"), frames.size());
  EXPECT_EQ(Counter(*c, "pass"), frames.size());
  EXPECT_EQ(Counter(*c, "vip_packets"), 0u);
  EXPECT_EQ(Counter(*c, "dnat"), 0u);
}

TEST(ElbBpf, DnatRewritesToTheBackendWithCorrectChecksums) {
  auto c = Load(Web({B("10.0.1.2", 8080)}));
  ASSERT_TRUE(c);
  Bytes in = Syn("192.0.2.7", 40000);
  auto r = c->Run(in);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->action, XDP_PASS);
  // Exactly the frame the client would have sent to the backend.
  Bytes want = PacketBuilder()
                   .Eth(kClientMac, kLbMac)
                   .Ipv4("192.0.2.7", "10.0.1.2")
                   .Tcp(40000, 8080, kTcpSyn, 1000, 0)
                   .Payload(16)
                   .Build();
  EXPECT_EQ(r->out, want);
  EXPECT_EQ(Counter(*c, "new_conns"), 1u);
  EXPECT_EQ(Counter(*c, "dnat"), 1u);
  // The parse result later stages read follows the rewrite.
  auto pkt = c->LastPacket();
  ASSERT_TRUE(pkt.ok());
  EXPECT_EQ(pkt->daddr[0], inet_addr("10.0.1.2"));
  EXPECT_EQ(pkt->dport, htons(8080));

  // The backend's reply comes back with the VIP as its source.
  Bytes reply = PacketBuilder()
                    .Eth(kLbMac, kClientMac)
                    .Ipv4("10.0.1.2", "192.0.2.7")
                    .Tcp(8080, 40000, kTcpSyn | kTcpAck, 5000, 1001)
                    .Build();
  r = c->Run(reply);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->action, XDP_PASS);
  Bytes want_reply = PacketBuilder()
                         .Eth(kLbMac, kClientMac)
                         .Ipv4("10.0.0.100", "192.0.2.7")
                         .Tcp(80, 40000, kTcpSyn | kTcpAck, 5000, 1001)
                         .Build();
  EXPECT_EQ(r->out, want_reply);
  EXPECT_EQ(Counter(*c, "snat"), 1u);

  // A reply of a connection we never saw is not ours to touch.
  Bytes stray = PacketBuilder()
                    .Eth(kLbMac, kClientMac)
                    .Ipv4("10.0.1.2", "192.0.2.8")
                    .Tcp(8080, 40000, kTcpAck)
                    .Build();
  r = c->Run(stray);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, stray);
}

TEST(ElbBpf, UdpIpv6AllPortsAndZeroChecksum) {
  json cfg = {{"max_connections", 65536},
              {"services",
               {{{"name", "dns6"},
                 {"vip", "2001:db8::53"},
                 {"proto", "udp"},
                 {"port", 53},
                 {"backends", {{{"address", "2001:db8:1::2"}, {"port", 5353}}}}},
                {{"name", "all"},
                 {"vip", "10.0.0.200"},
                 {"proto", "udp"},
                 {"backends", {{{"address", "10.0.2.2"}}}}}}}};
  auto c = Load(cfg);
  ASSERT_TRUE(c);
  Bytes in = PacketBuilder()
                 .Eth(kClientMac, kLbMac)
                 .Ipv6("2001:db8:ff::1", "2001:db8::53")
                 .Udp(33333, 53)
                 .Payload(40)
                 .Build();
  auto r = c->Run(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, PacketBuilder()
                        .Eth(kClientMac, kLbMac)
                        .Ipv6("2001:db8:ff::1", "2001:db8:1::2")
                        .Udp(33333, 5353)
                        .Payload(40)
                        .Build());

  // All-ports service: the port stays. IPv4 UDP without a checksum keeps none.
  Bytes nocsum = PacketBuilder()
                     .Eth(kClientMac, kLbMac)
                     .Ipv4("192.0.2.9", "10.0.0.200")
                     .Udp(5000, 6000)
                     .Payload(12)
                     .Build();
  FrameInfo fi = CheckFrame(nocsum);
  nocsum[fi.l4_off + 6] = nocsum[fi.l4_off + 7] = 0;
  r = c->Run(nocsum);
  ASSERT_TRUE(r.ok());
  Tuple t = ReadTuple(r->out);
  EXPECT_EQ(t.dst, "10.0.2.2");
  EXPECT_EQ(t.dport, 6000);
  EXPECT_EQ(r->out[fi.l4_off + 6], 0);
  EXPECT_EQ(r->out[fi.l4_off + 7], 0);
  EXPECT_TRUE(CheckFrame(r->out).l3_csum_ok);

  // Its reply comes from the client's port: reverse NAT for any port.
  Bytes reply = PacketBuilder()
                    .Eth(kLbMac, kClientMac)
                    .Ipv4("10.0.2.2", "192.0.2.9")
                    .Udp(6000, 5000)
                    .Payload(12)
                    .Build();
  r = c->Run(reply);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, PacketBuilder()
                        .Eth(kLbMac, kClientMac)
                        .Ipv4("10.0.0.200", "192.0.2.9")
                        .Udp(6000, 5000)
                        .Payload(12)
                        .Build());
  // The IPv6 service's reply, from its backend port.
  reply = PacketBuilder()
              .Eth(kLbMac, kClientMac)
              .Ipv6("2001:db8:1::2", "2001:db8:ff::1")
              .Udp(5353, 33333)
              .Payload(40)
              .Build();
  r = c->Run(reply);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, PacketBuilder()
                        .Eth(kLbMac, kClientMac)
                        .Ipv6("2001:db8::53", "2001:db8:ff::1")
                        .Udp(53, 33333)
                        .Payload(40)
                        .Build());
  EXPECT_EQ(Counter(*c, "snat"), 2u);
}

TEST(ElbBpf, SpreadsConnectionsByWeightAndKeepsThem) {
  auto c = Load(Web({B("10.0.1.2", 8080, 1), B("10.0.1.3", 8080, 1), B("10.0.1.4", 8080, 2)}));
  ASSERT_TRUE(c);
  std::map<std::string, int> count;
  std::map<uint16_t, std::string> first;
  const int n = 4000;
  for (int i = 0; i < n; i++) {
    uint16_t port = 10000 + i;
    std::string be = BackendOf(*c, "192.0.2." + std::to_string(1 + i % 200), port);
    count[be]++;
    first[port] = be;
  }
  ASSERT_EQ(count.size(), 3u);
  // Shares 1/4, 1/4, 1/2 of the table; a 4000-flow sample is within 15%.
  EXPECT_NEAR(count["10.0.1.2"], n / 4, n / 4 * 0.15);
  EXPECT_NEAR(count["10.0.1.3"], n / 4, n / 4 * 0.15);
  EXPECT_NEAR(count["10.0.1.4"], n / 2, n / 2 * 0.15);
  EXPECT_EQ(Counter(*c, "new_conns"), static_cast<uint64_t>(n));

  // Later packets of each connection: same backend, from the connection table.
  for (int i = 0; i < n; i += 7) {
    uint16_t port = 10000 + i;
    EXPECT_EQ(BackendOf(*c, "192.0.2." + std::to_string(1 + i % 200), port, kTcpAck), first[port]);
  }
  EXPECT_EQ(Counter(*c, "reused_conns"), static_cast<uint64_t>((n + 6) / 7));
}

TEST(ElbBpf, AffinitySurvivesChainEditsDrainAndRemoval) {
  auto c = Load(Web({B("10.0.1.2"), B("10.0.1.3"), B("10.0.1.4")}));
  ASSERT_TRUE(c);
  std::map<uint16_t, std::string> owner;
  for (uint16_t p = 20000; p < 20600; p++) owner[p] = BackendOf(*c, "192.0.2.50", p);

  // Add a backend and re-weight another: every existing connection stays put.
  ASSERT_TRUE(
      c->Reapply(Chain(Web({B("10.0.1.2", 8080, 3), B("10.0.1.3"), B("10.0.1.4"), B("10.0.1.5")})))
          .ok());
  for (auto& [p, be] : owner) EXPECT_EQ(BackendOf(*c, "192.0.2.50", p, kTcpAck), be) << p;
  std::set<std::string> fresh;
  for (uint16_t p = 30000; p < 30400; p++) fresh.insert(BackendOf(*c, "192.0.2.51", p));
  EXPECT_TRUE(fresh.count("10.0.1.5")) << "new connections reach the new backend";

  // Drain 10.0.1.3: its connections stay, it gets no new ones.
  ASSERT_TRUE(c->Reapply(Chain(Web({B("10.0.1.2", 8080, 3), B("10.0.1.3", 8080, 0), B("10.0.1.4"),
                                    B("10.0.1.5")})))
                  .ok());
  for (auto& [p, be] : owner) EXPECT_EQ(BackendOf(*c, "192.0.2.50", p, kTcpAck), be) << p;
  for (uint16_t p = 31000; p < 31400; p++) EXPECT_NE(BackendOf(*c, "192.0.2.52", p), "10.0.1.3");

  // Remove 10.0.1.4: its connections move (once, counted), the others do not.
  uint64_t repicked = Counter(*c, "repicked_conns");
  ASSERT_TRUE(
      c->Reapply(Chain(Web({B("10.0.1.2", 8080, 3), B("10.0.1.3", 8080, 0), B("10.0.1.5")}))).ok());
  int moved = 0;
  for (auto& [p, be] : owner) {
    std::string now = BackendOf(*c, "192.0.2.50", p, kTcpAck);
    if (be == "10.0.1.4") {
      EXPECT_NE(now, "10.0.1.4");
      EXPECT_NE(now, "10.0.1.3") << "moved connections avoid the drained backend";
      moved++;
      be = now;
    } else {
      EXPECT_EQ(now, be) << p;
    }
  }
  EXPECT_GT(moved, 0);
  EXPECT_EQ(Counter(*c, "repicked_conns") - repicked, static_cast<uint64_t>(moved));
  // ...and then stick to their new backend.
  for (auto& [p, be] : owner) EXPECT_EQ(BackendOf(*c, "192.0.2.50", p, kTcpAck), be) << p;
}

// Services inserted before an existing one and backends listed in another
// order move nothing: connections keep their backend, counters keep counting.
TEST(ElbBpf, ReorderedConfigKeepsConnectionsAndCounters) {
  auto c = Load(Web({B("10.0.1.2"), B("10.0.1.3"), B("10.0.1.4")}));
  ASSERT_TRUE(c);
  std::map<uint16_t, std::string> owner;
  for (uint16_t p = 21000; p < 21300; p++) owner[p] = BackendOf(*c, "192.0.2.70", p);

  json cfg = Web({B("10.0.1.4"), B("10.0.1.3"), B("10.0.1.2")});
  json first = {{"name", "aaa"},
                {"vip", "10.0.0.7"},
                {"port", 443},
                {"backends", {B("10.0.9.9", 443), B("10.0.9.8", 443)}}};
  cfg["services"].insert(cfg["services"].begin(), first);
  ASSERT_TRUE(c->Reapply(Chain(cfg)).ok());
  uint64_t repicked = Counter(*c, "repicked_conns");
  for (auto& [p, be] : owner) EXPECT_EQ(BackendOf(*c, "192.0.2.70", p, kTcpAck), be) << p;
  EXPECT_EQ(Counter(*c, "repicked_conns"), repicked);

  // Per-backend counters carried over: 300 connections, 600 packets so far.
  auto fd = c->OpenMap("lb", "backend_stats");
  ASSERT_TRUE(fd.ok());
  uint64_t conns = 0, packets = 0;
  int ncpus = libbpf_num_possible_cpus();
  for (uint32_t slot = 0; slot < ELB_MAX_BACKENDS; slot++) {
    std::vector<elb_backend_stats> v(ncpus);
    ASSERT_EQ(bpf_map_lookup_elem(fd->get(), &slot, v.data()), 0);
    for (const auto& s : v) conns += s.connections, packets += s.packets;
  }
  EXPECT_EQ(conns, 300u);
  EXPECT_EQ(packets, 600u);
}

// --- connections that end, and new ones that reuse their ports --------------

// TCP segments of a connection to the VIP: from the client, and from the
// backend (backend:8080 -> client, the reply direction).
Bytes ClientSeg(const std::string& client, uint16_t sport, uint8_t flags, uint32_t seq) {
  return PacketBuilder()
      .Eth(kClientMac, kLbMac)
      .Ipv4(client, "10.0.0.100")
      .Tcp(sport, 80, flags, seq, 0)
      .Build();
}
Bytes ReplySeg(const std::string& backend, const std::string& client, uint16_t cport,
               uint8_t flags) {
  return PacketBuilder()
      .Eth(kLbMac, kClientMac)
      .Ipv4(backend, client)
      .Tcp(8080, cport, flags, 5000, 0)
      .Build();
}

// Runs a client segment; the backend it went to ("" if not forwarded).
std::string Send(LoadedChain& c, const Bytes& frame) {
  auto r = c.Run(frame);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok() || r->action != XDP_PASS) return "";
  return ReadTuple(r->out).dst;
}
// Runs a reply segment and checks it left with the VIP as its source.
void Reply(LoadedChain& c, const std::string& backend, const std::string& client, uint16_t cport,
           uint8_t flags) {
  auto r = c.Run(ReplySeg(backend, client, cport, flags));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadTuple(r->out).src, "10.0.0.100") << "reply of " << client << ":" << cport;
}

// A whole connection as a client that closes first goes through it: SYN,
// SYN-ACK, request, FIN, FIN-ACK, last ACK. Returns its backend.
std::string OpenAndClose(LoadedChain& c, const std::string& client, uint16_t sport, uint32_t isn) {
  std::string be = Send(c, ClientSeg(client, sport, kTcpSyn, isn));
  if (be.empty()) return be;
  Reply(c, be, client, sport, kTcpSyn | kTcpAck);
  EXPECT_EQ(Send(c, ClientSeg(client, sport, kTcpAck | kTcpPsh, isn + 1)), be);
  EXPECT_EQ(Send(c, ClientSeg(client, sport, kTcpFin | kTcpAck, isn + 17)), be);
  Reply(c, be, client, sport, kTcpFin | kTcpAck);
  EXPECT_EQ(Send(c, ClientSeg(client, sport, kTcpAck, isn + 18)), be);
  return be;
}

// New connections per backend address (`connections` of backend_stats).
std::map<std::string, uint64_t> ConnsByBackend(LoadedChain& c) {
  std::map<std::string, uint64_t> out;
  auto backends = c.OpenMap("lb", "backends");
  auto stats = c.OpenMap("lb", "backend_stats");
  EXPECT_TRUE(backends.ok() && stats.ok());
  if (!backends.ok() || !stats.ok()) return out;
  const int ncpus = libbpf_num_possible_cpus();
  for (uint32_t slot = 1; slot < 64; slot++) {
    elb_backend be{};
    if (bpf_map_lookup_elem(backends->get(), &slot, &be) != 0 || be.id == 0) continue;
    std::vector<elb_backend_stats> v(ncpus);
    EXPECT_EQ(bpf_map_lookup_elem(stats->get(), &slot, v.data()), 0);
    char buf[INET_ADDRSTRLEN];
    std::string addr = inet_ntop(AF_INET, &be.addr[0], buf, sizeof(buf));
    for (const auto& s : v) out[addr] += s.connections;
  }
  return out;
}

// The report of issue 10: clients reuse their ports (tcp_tw_reuse, or `curl
// --local-port`) and the old connection's entry sent every new connection to
// the old backend, drained or not. A SYN (without ACK) is a new connection: a
// fresh Maglev pick that honours weight 0, the entry overwritten, counted as
// a new connection of the backend it lands on.
TEST(ElbBpf, SynReusingPortsTakesAFreshPickAfterADrain) {
  auto c = Load(Web({B("10.0.1.2"), B("10.0.1.3")}));
  ASSERT_TRUE(c);
  const std::string client = "192.0.2.80";
  std::map<uint16_t, std::string> owner;
  // Closed connections, and (ports 20100..) ones whose end the LB never saw
  // (a client that crashed, a FIN lost on another path).
  for (uint16_t p = 20000; p < 20100; p++) owner[p] = OpenAndClose(*c, client, p, 1000 + p);
  for (uint16_t p = 20100; p < 20200; p++)
    owner[p] = Send(*c, ClientSeg(client, p, kTcpSyn, 1000 + p));
  ASSERT_GT(std::count_if(owner.begin(), owner.end(),
                          [](const auto& kv) { return kv.second == "10.0.1.2"; }),
            20);

  ASSERT_TRUE(c->Reapply(Chain(Web({B("10.0.1.2", 8080, 0), B("10.0.1.3")}))).ok());
  const auto conns = ConnsByBackend(*c);
  const uint64_t new_conns = Counter(*c, "new_conns");
  for (auto& [p, be] : owner) {
    // The same ports, new initial sequence numbers: new connections.
    EXPECT_EQ(Send(*c, ClientSeg(client, p, kTcpSyn, 900000 + p)), "10.0.1.3")
        << "port " << p << " (was on " << be << ") went to the drained backend";
    EXPECT_EQ(Send(*c, ClientSeg(client, p, kTcpAck, 900001 + p)), "10.0.1.3") << p;
  }
  const auto after = ConnsByBackend(*c);
  EXPECT_EQ(after.at("10.0.1.3") - conns.at("10.0.1.3"), owner.size());
  EXPECT_EQ(after.at("10.0.1.2"), conns.at("10.0.1.2"))
      << "the drained backend got new connections";
  EXPECT_EQ(Counter(*c, "new_conns") - new_conns, owner.size());
  EXPECT_EQ(Counter(*c, "reopened_conns"), owner.size());
}

// A SYN sent again (same initial sequence number: its SYN-ACK was lost) is the
// same connection: it keeps its backend, even one drained since, and is not
// counted twice. A SYN with another sequence number is a new connection.
TEST(ElbBpf, RetransmittedSynKeepsItsBackend) {
  auto c = Load(Web({B("10.0.1.2"), B("10.0.1.3")}));
  ASSERT_TRUE(c);
  std::map<uint16_t, std::string> owner;
  for (uint16_t p = 21000; p < 21050; p++)
    owner[p] = Send(*c, ClientSeg("192.0.2.81", p, kTcpSyn, 7000 + p));
  ASSERT_TRUE(c->Reapply(Chain(Web({B("10.0.1.2", 8080, 0), B("10.0.1.3")}))).ok());
  const auto conns = ConnsByBackend(*c);
  for (auto& [p, be] : owner)
    EXPECT_EQ(Send(*c, ClientSeg("192.0.2.81", p, kTcpSyn, 7000 + p)), be) << p;
  EXPECT_EQ(ConnsByBackend(*c), conns);
  EXPECT_EQ(Counter(*c, "new_conns"), owner.size());
  for (auto& [p, be] : owner)
    EXPECT_EQ(Send(*c, ClientSeg("192.0.2.81", p, kTcpSyn, 8000 + p)), "10.0.1.3") << p;
}

// Entries of the connection table, and of the reverse-NAT table.
size_t MapEntries(LoadedChain& c, const char* map) {
  auto fd = c.OpenMap("lb", map);
  EXPECT_TRUE(fd.ok());
  if (!fd.ok()) return 0;
  size_t n = 0;
  elb_flow_key k{}, next{};
  for (const void* prev = nullptr; bpf_map_get_next_key(fd->get(), prev, &next) == 0; prev = &k) {
    k = next;
    n++;
  }
  return n;
}
bool HasConn(LoadedChain& c, const std::string& client, uint16_t sport) {
  auto fd = c.OpenMap("lb", "conntrack");
  EXPECT_TRUE(fd.ok());
  elb_flow_key k{};
  inet_pton(AF_INET, client.c_str(), &k.saddr[0]);
  inet_pton(AF_INET, "10.0.0.100", &k.daddr[0]);
  k.sport = htons(sport);
  k.dport = htons(80);
  k.proto = IPPROTO_TCP;
  k.family = 4;
  elb_conn v{};
  return fd.ok() && bpf_map_lookup_elem(fd->get(), &k, &v) == 0;
}

// Closed connections (FIN both ways, or RST either way) leave the connection
// and reverse-NAT tables once they were quiet for tcp_close_timeout_s; a
// half-closed one and an open one stay. Until then, late segments of a closed
// connection (a retransmitted FIN or last ACK) still reach its backend.
TEST(ElbBpf, ClosedConnectionsLeaveTheTables) {
  json cfg = Web({B("10.0.1.2"), B("10.0.1.3")});
  cfg["tcp_close_timeout_s"] = 1;
  auto c = Load(cfg);
  ASSERT_TRUE(c);
  const std::string cl = "192.0.2.90";
  // 1: the client closes first. 2: the backend closes first.
  std::string be1 = OpenAndClose(*c, cl, 1, 100);
  std::string be2 = Send(*c, ClientSeg(cl, 2, kTcpSyn, 200));
  Reply(*c, be2, cl, 2, kTcpSyn | kTcpAck);
  Reply(*c, be2, cl, 2, kTcpFin | kTcpAck);
  EXPECT_EQ(Send(*c, ClientSeg(cl, 2, kTcpFin | kTcpAck, 201)), be2);
  // 3: the client resets. 4: the backend resets.
  std::string be3 = Send(*c, ClientSeg(cl, 3, kTcpSyn, 300));
  EXPECT_EQ(Send(*c, ClientSeg(cl, 3, kTcpRst, 301)), be3);
  std::string be4 = Send(*c, ClientSeg(cl, 4, kTcpSyn, 400));
  Reply(*c, be4, cl, 4, kTcpRst | kTcpAck);
  // 5: half-closed by the client, the backend still sending. 6: open.
  std::string be5 = Send(*c, ClientSeg(cl, 5, kTcpSyn, 500));
  Reply(*c, be5, cl, 5, kTcpSyn | kTcpAck);
  EXPECT_EQ(Send(*c, ClientSeg(cl, 5, kTcpFin | kTcpAck, 501)), be5);
  std::string be6 = Send(*c, ClientSeg(cl, 6, kTcpSyn, 600));
  Reply(*c, be6, cl, 6, kTcpSyn | kTcpAck);
  EXPECT_EQ(Counter(*c, "closed_conns"), 4u);
  EXPECT_EQ(MapEntries(*c, "conntrack"), 6u);
  EXPECT_EQ(MapEntries(*c, "reverse_nat"), 6u);

  // A late segment of a closed connection still finds its backend.
  const uint64_t fresh = Counter(*c, "new_conns");
  EXPECT_EQ(Send(*c, ClientSeg(cl, 1, kTcpAck, 118)), be1);
  EXPECT_EQ(Counter(*c, "new_conns"), fresh);

  // sfcd sweeps closed entries once they were quiet for the close timeout.
  bool swept = false;
  for (int i = 0; i < 60 && !swept; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    swept = MapEntries(*c, "conntrack") == 2;
  }
  EXPECT_TRUE(swept) << MapEntries(*c, "conntrack") << " connections left";
  for (uint16_t p : {1, 2, 3, 4}) EXPECT_FALSE(HasConn(*c, cl, p)) << p;
  EXPECT_TRUE(HasConn(*c, cl, 5)) << "half-closed: the backend may still be sending";
  EXPECT_TRUE(HasConn(*c, cl, 6));
  EXPECT_EQ(MapEntries(*c, "reverse_nat"), 2u) << "reverse entries go with their connections";
  // The survivors still work both ways.
  Reply(*c, be5, cl, 5, kTcpAck | kTcpPsh);
  EXPECT_EQ(Send(*c, ClientSeg(cl, 6, kTcpAck, 601)), be6);
}

// DSR sees only the client's half of a connection: the client's FIN or RST
// closes it.
TEST(ElbBpf, DsrConnectionsCloseOnTheClientsFin) {
  json cfg = {{"max_connections", 65536},
              {"tcp_close_timeout_s", 1},
              {"services",
               {{{"name", "d"},
                 {"vip", "10.0.0.100"},
                 {"port", 80},
                 {"mode", "dsr"},
                 {"backends", {{{"address", "10.0.1.2"}, {"mac", "02:aa:00:00:00:02"}}}}}}}};
  auto c = Load(cfg);
  ASSERT_TRUE(c);
  for (uint16_t p = 1; p <= 3; p++) {
    auto r = c->Run(ClientSeg("192.0.2.91", p, kTcpSyn, 10 * p));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->action, XDP_TX);
  }
  ASSERT_TRUE(c->Run(ClientSeg("192.0.2.91", 1, kTcpFin | kTcpAck, 11)).ok());
  ASSERT_TRUE(c->Run(ClientSeg("192.0.2.91", 2, kTcpRst, 21)).ok());
  EXPECT_EQ(Counter(*c, "closed_conns"), 2u);
  bool swept = false;
  for (int i = 0; i < 60 && !swept; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    swept = MapEntries(*c, "conntrack") == 1;
  }
  EXPECT_TRUE(swept) << MapEntries(*c, "conntrack") << " connections left";
  EXPECT_TRUE(HasConn(*c, "192.0.2.91", 3));
}

// ICMP errors about DNAT-ed connections are translated into the view of the
// side they go to, checksums (outer, quoted IP, quoted L4, ICMP) included.
Bytes L3Of(const Bytes& frame) {
  FrameInfo fi = CheckFrame(frame);
  return Bytes(frame.begin() + fi.l3_off, frame.end());
}

TEST(ElbBpf, IcmpErrorsFollowTheTranslation) {
  auto c = Load(Web({B("10.0.1.2", 8080)}));
  ASSERT_TRUE(c);
  ASSERT_EQ(BackendOf(*c, "192.0.2.7", 40000), "10.0.1.2");
  auto quote = [](const std::string& src, const std::string& dst, uint16_t sp, uint16_t dp) {
    return L3Of(PacketBuilder()
                    .Eth(kClientMac, kLbMac)
                    .Ipv4(src, dst)
                    .Tcp(sp, dp, kTcpAck, 777, 888)
                    .Payload(24)
                    .Build());
  };
  auto icmp = [](const std::string& src, const std::string& dst, uint8_t type, uint8_t code,
                 const Bytes& quoted) {
    return PacketBuilder()
        .Eth(kLbMac, kClientMac)
        .Ipv4(src, dst)
        .Icmp(type, code, 0, 1400)
        .Payload(quoted)
        .Build();
  };
  // A router on the backend side cannot forward the client's packet.
  auto r =
      c->Run(icmp("10.0.1.254", "192.0.2.7", 3, 4, quote("192.0.2.7", "10.0.1.2", 40000, 8080)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out,
            icmp("10.0.1.254", "192.0.2.7", 3, 4, quote("192.0.2.7", "10.0.0.100", 40000, 80)));
  // The backend's own error comes from the VIP.
  r = c->Run(icmp("10.0.1.2", "192.0.2.7", 3, 3, quote("192.0.2.7", "10.0.1.2", 40000, 8080)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out,
            icmp("10.0.0.100", "192.0.2.7", 3, 3, quote("192.0.2.7", "10.0.0.100", 40000, 80)));
  // The client's side cannot take a reply: the error goes to the backend.
  r = c->Run(icmp("192.0.2.254", "10.0.0.100", 3, 4, quote("10.0.0.100", "192.0.2.7", 80, 40000)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out,
            icmp("192.0.2.254", "10.0.1.2", 3, 4, quote("10.0.1.2", "192.0.2.7", 8080, 40000)));
  EXPECT_TRUE(CheckFrame(r->out).l4_csum_ok);
  EXPECT_EQ(Counter(*c, "icmp_nat"), 3u);

  // Not about a known connection, or not an error: untouched.
  Bytes other = icmp("10.0.1.254", "192.0.2.8", 3, 4, quote("192.0.2.8", "10.0.1.2", 1, 8080));
  Bytes echo = PacketBuilder()
                   .Eth(kLbMac, kClientMac)
                   .Ipv4("10.0.1.2", "192.0.2.7")
                   .Icmp(0, 0, 1, 1)
                   .Payload(quote("192.0.2.7", "10.0.1.2", 40000, 8080))
                   .Build();
  for (const auto& f : {other, echo}) {
    r = c->Run(f);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->out, f);
  }
  EXPECT_EQ(Counter(*c, "icmp_nat"), 3u);
}

TEST(ElbBpf, Icmpv6PacketTooBigFollowsTheTranslation) {
  json cfg = {{"max_connections", 65536},
              {"services",
               {{{"name", "v6"},
                 {"vip", "2001:db8::80"},
                 {"proto", "udp"},
                 {"port", 443},
                 {"backends", {{{"address", "2001:db8:1::2"}, {"port", 4443}}}}}}}};
  auto c = Load(cfg);
  ASSERT_TRUE(c);
  auto udp = [](const std::string& src, const std::string& dst, uint16_t sp, uint16_t dp) {
    return PacketBuilder().Eth(kClientMac, kLbMac).Ipv6(src, dst).Udp(sp, dp).Payload(200).Build();
  };
  auto r = c->Run(udp("2001:db8:c::1", "2001:db8::80", 5555, 443));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(ReadTuple(r->out).dst, "2001:db8:1::2");
  auto ptb = [](const std::string& src, const std::string& dst, const Bytes& quoted) {
    return PacketBuilder()
        .Eth(kLbMac, kClientMac)
        .Ipv6(src, dst)
        .Icmp(2, 0, 0, 1280)
        .Payload(quoted)
        .Build();
  };
  r = c->Run(ptb("2001:db8:1::2", "2001:db8:c::1",
                 L3Of(udp("2001:db8:c::1", "2001:db8:1::2", 5555, 4443))));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, ptb("2001:db8::80", "2001:db8:c::1",
                        L3Of(udp("2001:db8:c::1", "2001:db8::80", 5555, 443))));
  EXPECT_TRUE(CheckFrame(r->out).l4_csum_ok);
  EXPECT_EQ(Counter(*c, "icmp_nat"), 1u);
}

TEST(ElbBpf, NoUsableBackendDrops) {
  auto c = Load(Web({B("10.0.1.2", 8080, 0)}));
  ASSERT_TRUE(c);
  auto r = c->Run(Syn("192.0.2.1", 1234));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->action, XDP_DROP);
  EXPECT_EQ(Counter(*c, "no_backend"), 1u);
  EXPECT_EQ(Counter(*c, "drop"), 1u);
}

TEST(ElbBpf, DsrRewritesOnlyMacs) {
  json cfg = {{"max_connections", 65536},
              {"services",
               {{{"name", "d"},
                 {"vip", "10.0.0.100"},
                 {"port", 80},
                 {"mode", "dsr"},
                 {"backends", {{{"address", "10.0.1.2"}, {"mac", "02:aa:00:00:00:02"}}}}},
                {{"name", "d6"},
                 {"vip", "2001:db8::80"},
                 {"port", 80},
                 {"mode", "dsr"},
                 {"dsr_tx", false},
                 {"backends", {{{"address", "2001:db8::2"}, {"mac", "02:aa:00:00:00:06"}}}}}}}};
  auto c = Load(cfg);
  ASSERT_TRUE(c);
  Bytes in = Syn("192.0.2.1", 5555);
  auto r = c->Run(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->action, XDP_TX) << "one-armed DSR goes straight back out";
  Bytes want = in;
  auto dst = MacBytes("02:aa:00:00:00:02"), src = MacBytes(kLbMac);
  std::copy(dst.begin(), dst.end(), want.begin());
  std::copy(src.begin(), src.end(), want.begin() + 6);
  EXPECT_EQ(r->out, want);
  EXPECT_EQ(Counter(*c, "dsr"), 1u);
  EXPECT_EQ(Counter(*c, "tx"), 1u);

  Bytes in6 = PacketBuilder()
                  .Eth(kClientMac, kLbMac)
                  .Ipv6("2001:db8:f::1", "2001:db8::80")
                  .Tcp(7777, 80, kTcpSyn)
                  .Build();
  r = c->Run(in6);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->action, XDP_PASS) << "dsr_tx false hands the frame to the chain's egress";
  EXPECT_EQ(MacString(r->out.data()), "02:aa:00:00:00:06");
  EXPECT_EQ(MacString(r->out.data() + 6), kLbMac);
  EXPECT_TRUE(std::equal(in6.begin() + 12, in6.end(), r->out.begin() + 12));
}

TEST(ElbBpf, DsrWithoutMacIsNotForwarded) {
  json cfg = {{"max_connections", 65536},
              {"services",
               {{{"name", "d"},
                 {"vip", "10.0.0.100"},
                 {"port", 80},
                 {"mode", "dsr"},
                 {"backends", {{{"address", "192.0.2.250"}}}}}}}};
  auto c = Load(cfg);
  ASSERT_TRUE(c);
  auto r = c->Run(Syn("192.0.2.1", 5555));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->action, XDP_DROP);
  EXPECT_EQ(Counter(*c, "no_backend"), 1u);
}

TEST(ElbBpf, FragmentsToAVipAreDroppedOthersPass) {
  auto c = Load(Web({B("10.0.1.2")}));
  ASSERT_TRUE(c);
  Bytes first = PacketBuilder()
                    .Eth(kClientMac, kLbMac)
                    .Ipv4("192.0.2.1", "10.0.0.100")
                    .Ipv4Fragment(0, true)
                    .Tcp(1000, 80)
                    .Payload(64)
                    .Build();
  Bytes later = PacketBuilder()
                    .Eth(kClientMac, kLbMac)
                    .Ipv4("192.0.2.1", "10.0.0.100")
                    .Ipv4Fragment(64, false)
                    .Payload(64)
                    .Build();
  Bytes other = PacketBuilder()
                    .Eth(kClientMac, kLbMac)
                    .Ipv4("192.0.2.1", "10.0.0.99")
                    .Ipv4Fragment(64, false)
                    .Payload(64)
                    .Build();
  Bytes v6 = PacketBuilder()
                 .Eth(kClientMac, kLbMac)
                 .Ipv6("2001:db8::1", "2001:db8::2")
                 .Ipv6Fragment(8, false)
                 .Payload(16)
                 .Build();
  for (const auto& f : {first, later}) {
    auto r = c->Run(f);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->action, XDP_DROP);
  }
  for (const auto& f : {other, v6}) {
    auto r = c->Run(f);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->action, XDP_PASS);
    EXPECT_EQ(r->out, f);
  }
  EXPECT_EQ(Counter(*c, "frag_drop"), 2u);
}

// Truncated headers never reach the VNF (the shared parser drops them), and
// a frame cut inside the payload is still forwarded whole.
TEST(ElbBpf, MalformedFramesToAVip) {
  auto c = Load(Web({B("10.0.1.2", 8080)}));
  ASSERT_TRUE(c);
  Bytes syn = Syn("192.0.2.1", 1234);
  FrameInfo fi = CheckFrame(syn);
  for (size_t cut : {fi.l4_off + 10, fi.l3_off + 12, fi.l3_off + 2}) {
    Bytes f(syn.begin(), syn.begin() + cut);
    auto r = c->Run(f);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->action, XDP_DROP) << "cut at " << cut;
  }
  EXPECT_EQ(Counter(*c, "rx_packets"), 0u);
  auto malformed = c->ChainCounter("malformed");
  ASSERT_TRUE(malformed.ok());
  EXPECT_EQ(*malformed, 3u);

  // TCP header complete, payload short of what the IP header says: the LB
  // rewrites what is there and leaves the length question to the receiver.
  Bytes shortened(syn.begin(), syn.begin() + fi.l4_off + 20);
  auto r = c->Run(shortened);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->action, XDP_PASS);
  EXPECT_EQ(Counter(*c, "dnat"), 1u);
}

TEST(ElbBpf, VlanAndIpOptionsAreRewrittenInPlace) {
  auto c = Load(Web({B("10.0.1.2", 8080)}));
  ASSERT_TRUE(c);
  Bytes in = PacketBuilder()
                 .Eth(kClientMac, kLbMac)
                 .Vlan(100)
                 .Vlan(200)
                 .Ipv4("192.0.2.1", "10.0.0.100")
                 .Ipv4Options({0x94, 0x04, 0, 0})
                 .Tcp(1111, 80, kTcpSyn)
                 .Payload(10)
                 .Build();
  auto r = c->Run(in);
  ASSERT_TRUE(r.ok());
  Bytes want = PacketBuilder()
                   .Eth(kClientMac, kLbMac)
                   .Vlan(100)
                   .Vlan(200)
                   .Ipv4("192.0.2.1", "10.0.1.2")
                   .Ipv4Options({0x94, 0x04, 0, 0})
                   .Tcp(1111, 8080, kTcpSyn)
                   .Payload(10)
                   .Build();
  EXPECT_EQ(r->out, want);
}

// Every rewrite against a frame built from scratch with the expected headers,
// for random VIPs, backends, clients and ports, both families, TCP and UDP,
// both directions.
TEST(ElbBpf, ChecksumsMatchFullRecomputationForRandomTuples) {
  std::mt19937 rng(20261126);
  auto v4 = [&] {
    return std::to_string(1 + rng() % 223) + "." + std::to_string(rng() % 256) + "." +
           std::to_string(rng() % 256) + "." + std::to_string(1 + rng() % 254);
  };
  auto v6 = [&] {
    char buf[64];
    snprintf(buf, sizeof(buf), "2001:db8:%x:%x:%x:%x:%x:%x", static_cast<unsigned>(rng() & 0xffff),
             static_cast<unsigned>(rng() & 0xffff), static_cast<unsigned>(rng() & 0xffff),
             static_cast<unsigned>(rng() & 0xffff), static_cast<unsigned>(rng() & 0xffff),
             static_cast<unsigned>(1 + rng() % 0xfffe));
    return std::string(buf);
  };
  struct Svc {
    bool six, udp;
    std::string vip;
    uint16_t port;
    std::map<std::string, uint16_t> backends;  // address -> port
  };
  std::vector<Svc> svcs;
  json services = json::array();
  for (int i = 0; i < 16; i++) {
    Svc s{i % 2 == 1, (i / 2) % 2 == 1, "", static_cast<uint16_t>(1 + rng() % 65535), {}};
    s.vip = s.six ? v6() : v4();
    json backends = json::array();
    for (int b = 0; b < 3; b++) {
      std::string a = s.six ? v6() : v4();
      uint16_t p = 1 + rng() % 65535;
      s.backends[a] = p;
      backends.push_back({{"address", a}, {"port", p}});
    }
    services.push_back({{"name", "s" + std::to_string(i)},
                        {"vip", s.vip},
                        {"proto", s.udp ? "udp" : "tcp"},
                        {"port", s.port},
                        {"table_size", 251},
                        {"backends", backends}});
    svcs.push_back(s);
  }
  auto c = Load({{"max_connections", 65536}, {"services", services}});
  ASSERT_TRUE(c);

  auto frame = [&](const Svc& s, const std::string& src, const std::string& dst, uint16_t sp,
                   uint16_t dp, size_t payload, uint32_t seq) {
    PacketBuilder b;
    b.Eth(kClientMac, kLbMac);
    if (s.six)
      b.Ipv6(src, dst);
    else
      b.Ipv4(src, dst);
    if (s.udp)
      b.Udp(sp, dp);
    else
      b.Tcp(sp, dp, kTcpAck, seq, seq ^ 0x5a5a5a5a);
    return b.Payload(payload, static_cast<uint8_t>(seq)).Build();
  };
  for (int i = 0; i < 600; i++) {
    const Svc& s = svcs[rng() % svcs.size()];
    std::string client = s.six ? v6() : v4();
    uint16_t cport = 1 + rng() % 65535;
    size_t payload = rng() % 41;
    uint32_t seq = rng();
    auto r = c->Run(frame(s, client, s.vip, cport, s.port, payload, seq));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->action, XDP_PASS);
    Tuple t = ReadTuple(r->out);
    ASSERT_TRUE(s.backends.count(t.dst)) << t.dst;
    uint16_t bport = s.backends.at(t.dst);
    ASSERT_EQ(r->out, frame(s, client, t.dst, cport, bport, payload, seq)) << "frame " << i;

    auto back = c->Run(frame(s, t.dst, client, bport, cport, payload, ~seq));
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(back->out, frame(s, s.vip, client, s.port, cport, payload, ~seq)) << "reply " << i;
  }
}

// --- the live API, on the maps of the running generation -------------------

class ElbApi : public ::testing::Test {
 protected:
  void SetUp() override {
    chain_ = Load(Web({B("10.0.1.2"), B("10.0.1.3")}));
    ASSERT_TRUE(chain_);
    VnfModule* m = chain_->engine().registry().Find("loadbalancer");
    ASSERT_NE(m, nullptr);
    grpc::ServerBuilder builder;
    m->RegisterServices(builder, chain_->engine());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    stub_ = v1::LoadBalancerService::NewStub(server_->InProcessChannel({}));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    chain_.reset();
  }
  v1::LbService Get() {
    grpc::ClientContext ctx;
    v1::GetLbServiceRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    req.set_service("web");
    v1::LbService out;
    grpc::Status st = stub_->GetService(&ctx, req, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out;
  }
  const v1::LbBackendStatus* Find(const v1::LbService& s, const std::string& addr) {
    for (const auto& b : s.backends())
      if (b.address() == addr) return &b;
    return nullptr;
  }

  std::unique_ptr<LoadedChain> chain_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::LoadBalancerService::Stub> stub_;
};

TEST_F(ElbApi, BackendCrudWeightsAndCounters) {
  std::map<uint16_t, std::string> owner;
  for (uint16_t p = 40000; p < 40300; p++) owner[p] = BackendOf(*chain_, "192.0.2.60", p);

  v1::LbService s = Get();
  ASSERT_EQ(s.backends_size(), 2);
  uint64_t pkts = 0, conns = 0, slots = 0;
  for (const auto& b : s.backends()) {
    EXPECT_EQ(b.state(), "up");
    pkts += b.packets();
    conns += b.connections();
    slots += b.slots();
    EXPECT_GT(b.bytes(), 0u);
  }
  EXPECT_EQ(pkts, 300u);
  EXPECT_EQ(conns, 300u);
  EXPECT_EQ(slots, 65537u);

  // Add a backend live.
  {
    grpc::ClientContext ctx;
    v1::AddLbBackendRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    req.set_service("web");
    req.mutable_backend()->set_address("10.0.1.9");
    req.mutable_backend()->set_port(8080);
    req.mutable_backend()->set_weight(2);
    v1::LbService out;
    grpc::Status st = stub_->AddBackend(&ctx, req, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(out.backends_size(), 3);
    EXPECT_NEAR(Find(out, "10.0.1.9")->slots(), 65537 / 2, 1);
  }
  std::set<std::string> seen;
  for (uint16_t p = 41000; p < 41200; p++) seen.insert(BackendOf(*chain_, "192.0.2.61", p));
  EXPECT_TRUE(seen.count("10.0.1.9"));
  for (auto& [p, be] : owner) EXPECT_EQ(BackendOf(*chain_, "192.0.2.60", p, kTcpAck), be);

  // Drain 10.0.1.2: existing connections stay, new ones avoid it.
  {
    grpc::ClientContext ctx;
    v1::DrainLbBackendRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    req.set_service("web");
    req.set_address("10.0.1.2");
    v1::LbService out;
    ASSERT_TRUE(stub_->Drain(&ctx, req, &out).ok());
    EXPECT_EQ(Find(out, "10.0.1.2")->state(), "draining");
    EXPECT_EQ(Find(out, "10.0.1.2")->slots(), 0u);
  }
  for (auto& [p, be] : owner) EXPECT_EQ(BackendOf(*chain_, "192.0.2.60", p, kTcpAck), be);
  for (uint16_t p = 42000; p < 42200; p++)
    EXPECT_NE(BackendOf(*chain_, "192.0.2.62", p), "10.0.1.2");

  // The change is in the saved spec: a later Get of the chain shows it.
  auto info = chain_->engine().Get("lbt");
  ASSERT_TRUE(info.ok());
  EXPECT_NE(info->spec.vnfs[0].config.dump().find("10.0.1.9"), std::string::npos);

  // Remove 10.0.1.3: its connections move.
  {
    grpc::ClientContext ctx;
    v1::RemoveLbBackendRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    req.set_service("web");
    req.set_address("10.0.1.3");
    req.set_port(8080);
    v1::LbService out;
    grpc::Status st = stub_->RemoveBackend(&ctx, req, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(out.backends_size(), 2);
  }
  for (auto& [p, be] : owner) {
    std::string now = BackendOf(*chain_, "192.0.2.60", p, kTcpAck);
    if (be == "10.0.1.3")
      EXPECT_EQ(now, "10.0.1.9");  // the only backend taking new ones
    else
      EXPECT_EQ(now, be);
  }
}

TEST_F(ElbApi, BadInputNamesTheField) {
  auto call_weight = [&](const std::string& addr, int weight) {
    grpc::ClientContext ctx;
    v1::SetLbWeightRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    req.set_service("web");
    req.set_address(addr);
    req.set_port(8080);
    req.set_weight(weight);
    v1::LbService out;
    return stub_->SetWeight(&ctx, req, &out);
  };
  grpc::Status st = call_weight("10.0.1.2", -3);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "/weight: must not be negative (got -3)");
  st = call_weight("10.0.1.77", 2);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "/address: no backend 10.0.1.77:8080 in service \"web\"");
  st = call_weight("10.0.1", 2);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(call_weight("10.0.1.2", 5).ok());

  auto add = [&](const std::string& addr, int weight) {
    grpc::ClientContext ctx;
    v1::AddLbBackendRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    req.set_service("web");
    req.mutable_backend()->set_address(addr);
    req.mutable_backend()->set_port(8080);
    req.mutable_backend()->set_weight(weight);
    v1::LbService out;
    return stub_->AddBackend(&ctx, req, &out);
  };
  st = add("10.0.1.3", 1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(st.error_message(), "/backend: 10.0.1.3:8080 is already a backend of service \"web\"");
  st = add("10.0.1.4", -1);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message().substr(0, 33), "/backend/weight: must not be nega");
  st = add("not-an-ip", 1);
  EXPECT_EQ(st.error_message(), "/backend/address: \"not-an-ip\" is not an IP address");

  {
    grpc::ClientContext ctx;
    v1::AddLbServiceRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    req.mutable_service()->set_name("api");
    req.mutable_service()->set_vip("10.0.0.150");
    req.mutable_service()->set_port(443);
    req.mutable_service()->set_table_size(1000);
    v1::LbService out;
    st = stub_->AddService(&ctx, req, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(st.error_message().substr(0, 41), "/service/table_size: 1000 is not prime (M");
  }
  {
    grpc::ClientContext ctx;
    v1::ListLbServicesRequest req;
    req.set_chain("lbt");
    req.set_vnf("nope");
    v1::ListLbServicesResponse out;
    st = stub_->ListServices(&ctx, req, &out);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // Nothing above changed the data plane.
  v1::LbService s = Get();
  EXPECT_EQ(s.backends_size(), 2);
}

TEST_F(ElbApi, AddAndDeleteServicesLive) {
  {
    grpc::ClientContext ctx;
    v1::AddLbServiceRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    auto* s = req.mutable_service();
    s->set_name("dns");
    s->set_vip("10.0.0.53");
    s->set_proto("udp");
    s->set_port(53);
    auto* b = s->add_backends();
    b->set_address("10.0.3.3");
    v1::LbService out;
    grpc::Status st = stub_->AddService(&ctx, req, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(out.table_index(), 1u);
  }
  Bytes q = PacketBuilder()
                .Eth(kClientMac, kLbMac)
                .Ipv4("192.0.2.1", "10.0.0.53")
                .Udp(999, 53)
                .Payload(20)
                .Build();
  auto r = chain_->Run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReadTuple(r->out).dst, "10.0.3.3");
  {
    grpc::ClientContext ctx;
    v1::DeleteLbServiceRequest req;
    req.set_chain("lbt");
    req.set_vnf("lb");
    req.set_service("dns");
    v1::DeleteLbServiceResponse out;
    ASSERT_TRUE(stub_->DeleteService(&ctx, req, &out).ok());
  }
  r = chain_->Run(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, q) << "no service: untouched";

  // Nothing of it is left in the maps: one service, one table, one VIP, the
  // two web backends.
  auto count_keys = [&](const char* map, size_t key_size) {
    auto fd = chain_->OpenMap("lb", map);
    EXPECT_TRUE(fd.ok());
    std::vector<uint8_t> key(key_size), next(key_size);
    int n = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd->get(), prev, next.data()) == 0) {
      key = next;
      prev = key.data();
      n++;
    }
    return n;
  };
  EXPECT_EQ(count_keys("services", sizeof(elb_svc_key)), 1);
  EXPECT_EQ(count_keys("vips", sizeof(elb_vip_key)), 1);
  auto maglev = chain_->OpenMap("lb", "maglev");
  ASSERT_TRUE(maglev.ok());
  uint32_t inner_id = 0, index = 1;
  EXPECT_NE(bpf_map_lookup_elem(maglev->get(), &index, &inner_id), 0) << "table 1 released";
  index = 0;
  EXPECT_EQ(bpf_map_lookup_elem(maglev->get(), &index, &inner_id), 0) << "web's table stays";
  auto backends = chain_->OpenMap("lb", "backends");
  ASSERT_TRUE(backends.ok());
  int used = 0;
  for (uint32_t slot = 0; slot < ELB_MAX_BACKENDS; slot++) {
    elb_backend b{};
    ASSERT_EQ(bpf_map_lookup_elem(backends->get(), &slot, &b), 0);
    used += b.id != 0;
  }
  EXPECT_EQ(used, 2);
  auto settings = chain_->OpenMap("lb", "settings");
  ASSERT_TRUE(settings.ok());
  elb_settings set{};
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(settings->get(), &zero, &set), 0);
  EXPECT_EQ(set.flags, ELB_SET_F_DNAT);
}

// Health checks against loopback listeners: a backend that refuses leaves the
// table, and comes back when it listens.
TEST(ElbHealth, FailedBackendsLeaveAndReturn) {
  // Port with a listener on 127.0.0.1; 127.0.0.2 has nothing on it.
  UniqueFd lfd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int one = 1;
  setsockopt(lfd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::bind(lfd.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
  ASSERT_EQ(::getsockname(lfd.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  uint16_t port = ntohs(a.sin_port);
  lfd.reset();  // nothing listens yet

  json health = {
      {"type", "tcp"}, {"interval_ms", 100}, {"timeout_ms", 50}, {"rise", 1}, {"fall", 1}};
  auto c = Load(Web({B("127.0.0.1", port), B("127.0.0.2", port)}, {{"health", health}}));
  ASSERT_TRUE(c);
  auto wait_for = [&](auto pred) {
    for (int i = 0; i < 50; i++) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  // Both refuse: no usable backend.
  EXPECT_TRUE(wait_for([&] {
    auto r = c->Run(Syn("192.0.2.1", static_cast<uint16_t>(1000 + rand() % 50000)));
    return r.ok() && r->action == XDP_DROP;
  }));
  // 127.0.0.1 starts listening (INADDR_ANY also covers 127.0.0.2: bind it to .1 only).
  UniqueFd up(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  setsockopt(up.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(up.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(up.get(), 64), 0);
  EXPECT_TRUE(
      wait_for([&] { return BackendOf(*c, "192.0.2.2", 2000 + rand() % 1000) == "127.0.0.1"; }));
  for (uint16_t p = 5000; p < 5100; p++) EXPECT_EQ(BackendOf(*c, "192.0.2.3", p), "127.0.0.1");
}

// A backend that failed its checks gets no new connection through a reused
// port either, and its counters say so.
TEST(ElbHealth, SynReusingPortsAvoidsADownBackend) {
  UniqueFd l1(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::bind(l1.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
  ASSERT_EQ(::getsockname(l1.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  ASSERT_EQ(::listen(l1.get(), 64), 0);
  UniqueFd l2(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  a.sin_addr.s_addr = inet_addr("127.0.0.2");
  ASSERT_EQ(::bind(l2.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(l2.get(), 64), 0);
  const uint16_t port = ntohs(a.sin_port);

  json health = {
      {"type", "tcp"}, {"interval_ms", 100}, {"timeout_ms", 50}, {"rise", 1}, {"fall", 1}};
  auto c = Load(Web({B("127.0.0.1", port), B("127.0.0.2", port)}, {{"health", health}}));
  ASSERT_TRUE(c);
  std::map<uint16_t, std::string> owner;
  for (uint16_t p = 22000; p < 22100; p++)
    owner[p] = Send(*c, ClientSeg("192.0.2.82", p, kTcpSyn, 3000 + p));
  ASSERT_GT(std::count_if(owner.begin(), owner.end(),
                          [](const auto& kv) { return kv.second == "127.0.0.1"; }),
            20);

  l1.reset();  // 127.0.0.1 stops listening: down after one failed check
  bool down = false;
  for (int i = 0; i < 50 && !down; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    down = true;
    for (uint16_t p = 0; p < 20 && down; p++)
      down = BackendOf(*c, "192.0.2.83", static_cast<uint16_t>(23000 + i * 20 + p)) == "127.0.0.2";
  }
  ASSERT_TRUE(down) << "127.0.0.1 still takes new connections";
  const auto conns = ConnsByBackend(*c);
  for (auto& [p, be] : owner)
    EXPECT_EQ(Send(*c, ClientSeg("192.0.2.82", p, kTcpSyn, 50000 + p)), "127.0.0.2") << p;
  const auto after = ConnsByBackend(*c);
  EXPECT_EQ(after.at("127.0.0.2") - conns.at("127.0.0.2"), owner.size());
  EXPECT_EQ(after.at("127.0.0.1"), conns.at("127.0.0.1"));
}

// A loopback HTTP server answering every request with `reply`.
class HttpStub {
 public:
  HttpStub(const char* addr, std::string reply) : reply_(std::move(reply)) {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = inet_addr(addr);
    socklen_t len = sizeof(a);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(::listen(fd_.get(), 64), 0);
    EXPECT_EQ(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_.get(), nullptr, nullptr);
        if (c < 0) return;
        UniqueFd conn(c);
        char buf[512];
        if (::recv(c, buf, sizeof(buf), 0) > 0)
          (void)!::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      }
    });
  }
  ~HttpStub() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  std::string reply_;
  UniqueFd fd_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Load-driven weights: a backend that reports `Sfc-Weight: 0` keeps passing
// its checks but gets no new connections; the API shows its effective weight.
TEST(ElbHealth, ReportedWeightsShapeTheTable) {
  HttpStub busy("127.0.0.1", "HTTP/1.1 200 OK\r\nSfc-Weight: 0\r\n\r\n");
  HttpStub idle("127.0.0.2", "HTTP/1.1 200 OK\r\nSfc-Weight: 100\r\n\r\n");
  json health = {{"type", "http"}, {"interval_ms", 100}, {"timeout_ms", 80},
                 {"rise", 1},      {"fall", 1},          {"load_weight", true}};
  auto c =
      Load(Web({B("127.0.0.1", busy.port()), B("127.0.0.2", idle.port())}, {{"health", health}}));
  ASSERT_TRUE(c);
  bool shaped = false;
  for (int i = 0; i < 50 && !shaped; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    shaped = true;
    for (uint16_t p = 0; p < 20 && shaped; p++)
      shaped = BackendOf(*c, "192.0.2.9", static_cast<uint16_t>(6000 + i * 20 + p)) == "127.0.0.2";
  }
  EXPECT_TRUE(shaped) << "the busy backend still gets new connections";
  for (uint16_t p = 9000; p < 9100; p++) EXPECT_EQ(BackendOf(*c, "192.0.2.10", p), "127.0.0.2");
}

}  // namespace
}  // namespace sfc::test
