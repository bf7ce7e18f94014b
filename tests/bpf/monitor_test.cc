// The drop and verdict monitor through BPF_PROG_TEST_RUN in a loaded chain:
// a drop produces one ring buffer event with its reason and the packet's
// addresses; off produces nothing; mode, stage filter, sampling and the rate
// limit bound the events, and what they hold back is counted.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <netinet/in.h>

#include <unistd.h>

#include <cstring>
#include <vector>

#include "engine/bpf_util.h"
#include "monitor/maps.h"
#include "monitor/settings.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

using monitor::ChainMonitorMaps;
using monitor::Settings;

// fw (default allow, one drop rule, one reject rule) -> egress pass.
constexpr const char* kFwChain = R"({"name": "mon", "interfaces": ["lo"], "vnfs": [
    {"name": "fw", "type": "firewall", "config": {"default": "allow", "rules": [
      {"id": "block-dns", "proto": "udp", "dport": 53, "action": "drop"},
      {"id": "no-telnet", "proto": "tcp", "dport": 23, "action": "reject"}]}}]})";

std::unique_ptr<LoadedChain> MustLoad(const char* spec) {
  auto c = LoadedChain::Load(spec);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

// Reads a chain's ring buffer into a vector.
class EventReader {
 public:
  explicit EventReader(int events_fd) {
    rb_ = ring_buffer__new(events_fd, &EventReader::OnEvent, this, nullptr);
  }
  ~EventReader() { ring_buffer__free(rb_); }
  bool ok() const { return rb_ != nullptr; }
  std::vector<sfc_event> Drain() {
    events_.clear();
    ring_buffer__consume(rb_);
    return events_;
  }

 private:
  static int OnEvent(void* self, void* data, size_t size) {
    sfc_event ev{};
    std::memcpy(&ev, data, std::min(size, sizeof(ev)));
    static_cast<EventReader*>(self)->events_.push_back(ev);
    return 0;
  }
  ring_buffer* rb_ = nullptr;
  std::vector<sfc_event> events_;
};

struct Monitored {
  std::unique_ptr<LoadedChain> chain;
  ChainMonitorMaps maps;
  std::unique_ptr<EventReader> reader;
};

std::unique_ptr<Monitored> LoadMonitored(const char* spec) {
  auto chain = MustLoad(spec);
  if (!chain) return nullptr;
  auto maps = ChainMonitorMaps::Open(chain->engine().pins(), chain->name());
  EXPECT_TRUE(maps.ok()) << maps.status().ToString();
  if (!maps.ok()) return nullptr;
  auto m =
      std::make_unique<Monitored>(Monitored{std::move(chain), std::move(maps).value(), nullptr});
  m->reader = std::make_unique<EventReader>(m->maps.events_fd());
  EXPECT_TRUE(m->reader->ok());
  return m;
}

void Set(const Monitored& m, Settings s) {
  Status st = m.maps.Write(monitor::ToConfig(s));
  ASSERT_TRUE(st.ok()) << st.ToString();
}

Settings Mode(uint32_t mode) {
  Settings s;
  s.mode = mode;
  s.rate_per_cpu = 0;
  return s;
}

int Verdict(LoadedChain& c, const Bytes& frame, uint32_t repeat = 1) {
  auto r = c.Run(frame, 1, repeat);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->action : -1;
}

Bytes Dns() {
  PacketBuilder b;
  b.Ipv4("10.0.0.1", "10.0.0.2").Udp(40000, 53);
  return b.Build();
}

Bytes Web() {
  PacketBuilder b;
  b.Ipv4("10.0.0.1", "10.0.0.2").Tcp(40001, 80, kTcpSyn);
  return b.Build();
}

std::string RuleIdOfSlot(LoadedChain& c, uint32_t slot) {
  auto fd = c.OpenMap("fw", "rule_ids");
  if (!fd.ok()) return "?";
  char id[65] = {};
  if (bpf_map_lookup_elem(fd->get(), &slot, id) != 0) return "?";
  return id;
}

uint32_t Ip(const char* s) {
  in_addr a{};
  inet_pton(AF_INET, s, &a);
  return a.s_addr;
}

TEST(MonitorBpf, FirewallRuleDropReportsRuleAndPacket) {
  auto m = LoadMonitored(kFwChain);
  ASSERT_TRUE(m);
  Set(*m, Mode(SFC_MON_DROPS));

  EXPECT_EQ(Verdict(*m->chain, Dns()), XDP_DROP);
  EXPECT_EQ(Verdict(*m->chain, Web()), XDP_PASS);  // allowed: not a drop
  auto events = m->reader->Drain();
  ASSERT_EQ(events.size(), 1u);
  const sfc_event& ev = events[0];
  EXPECT_EQ(ev.reason, SFC_REASON_FW_RULE);
  EXPECT_EQ(ev.action, SFC_ACT_DROP);
  EXPECT_EQ(ev.stage, 0);  // fw's slot
  EXPECT_EQ(RuleIdOfSlot(*m->chain, ev.detail), "block-dns");
  EXPECT_EQ(ev.l3_proto, 0x0800);
  EXPECT_EQ(ev.l4_proto, IPPROTO_UDP);
  EXPECT_EQ(ev.saddr[0], Ip("10.0.0.1"));
  EXPECT_EQ(ev.daddr[0], Ip("10.0.0.2"));
  EXPECT_EQ(ntohs(ev.sport), 40000);
  EXPECT_EQ(ntohs(ev.dport), 53);
  EXPECT_EQ(ev.ifindex, 1u);
  EXPECT_EQ(ev.pkt_len, Dns().size());
  EXPECT_NE(ev.ts_ns, 0u);
  EXPECT_EQ(monitor::ReasonName(ev.reason), "fw_rule");

  auto ctr = m->maps.ReadCounters();
  ASSERT_TRUE(ctr.ok());
  EXPECT_EQ(ctr->events, 1u);
  EXPECT_EQ(ctr->lost, 0u);
}

TEST(MonitorBpf, OffProducesNothing) {
  auto m = LoadMonitored(kFwChain);
  ASSERT_TRUE(m);
  // Off is how a chain starts.
  auto cfg = m->maps.Read();
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->mode, SFC_MON_OFF);
  EXPECT_EQ(Verdict(*m->chain, Dns(), 100), XDP_DROP);
  EXPECT_EQ(Verdict(*m->chain, Web()), XDP_PASS);
  EXPECT_TRUE(m->reader->Drain().empty());
  auto last = m->chain->LastPacket();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->monitor, 0u);
  auto ctr = m->maps.ReadCounters();
  ASSERT_TRUE(ctr.ok());
  EXPECT_EQ(ctr->events + ctr->lost + ctr->rate_limited + ctr->sampled_out, 0u);

  // On, then off again: nothing after the switch back.
  Set(*m, Mode(SFC_MON_DROPS));
  EXPECT_EQ(Verdict(*m->chain, Dns()), XDP_DROP);
  EXPECT_EQ(m->reader->Drain().size(), 1u);
  Set(*m, Mode(SFC_MON_OFF));
  EXPECT_EQ(Verdict(*m->chain, Dns(), 10), XDP_DROP);
  EXPECT_TRUE(m->reader->Drain().empty());
}

TEST(MonitorBpf, AllModeReportsEveryStageWithItsReason) {
  auto m = LoadMonitored(kFwChain);
  ASSERT_TRUE(m);
  Set(*m, Mode(SFC_MON_ALL));

  EXPECT_EQ(Verdict(*m->chain, Web()), XDP_PASS);
  auto events = m->reader->Drain();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].stage, 0);
  EXPECT_EQ(events[0].action, SFC_ACT_NEXT);
  EXPECT_EQ(events[0].reason, SFC_REASON_FW_DEFAULT);
  EXPECT_EQ(events[1].stage, SFC_STAGE_EGRESS);
  EXPECT_EQ(events[1].action, SFC_ACT_PASS);

  // A reject is the firewall's TX, with its rule.
  PacketBuilder telnet;
  telnet.Ipv4("10.0.0.1", "10.0.0.2").Tcp(40002, 23, kTcpSyn);
  EXPECT_EQ(Verdict(*m->chain, telnet.Build()), XDP_TX);
  events = m->reader->Drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].action, SFC_ACT_TX);
  EXPECT_EQ(RuleIdOfSlot(*m->chain, events[0].detail), "no-telnet");

  // Malformed frames are the entry's drops.
  Bytes runt = Dns();
  runt.resize(14 + 10);
  EXPECT_EQ(Verdict(*m->chain, runt), XDP_DROP);
  events = m->reader->Drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].stage, SFC_STAGE_ENTRY);
  EXPECT_EQ(events[0].reason, SFC_REASON_MALFORMED);
}

TEST(MonitorBpf, StageFilterKeepsOtherStagesQuiet) {
  auto m = LoadMonitored(kFwChain);
  ASSERT_TRUE(m);
  Settings s = Mode(SFC_MON_ALL);
  s.stages = SFC_MON_STAGE_EGRESS;  // not slot 0 (fw)
  Set(*m, s);
  EXPECT_EQ(Verdict(*m->chain, Dns()), XDP_DROP);
  EXPECT_EQ(Verdict(*m->chain, Web()), XDP_PASS);
  auto events = m->reader->Drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].stage, SFC_STAGE_EGRESS);
}

TEST(MonitorBpf, SamplingReportsOneInN) {
  auto m = LoadMonitored(kFwChain);
  ASSERT_TRUE(m);
  Settings s = Mode(SFC_MON_DROPS);
  s.sample = 4;
  Set(*m, s);
  EXPECT_EQ(Verdict(*m->chain, Dns(), 100), XDP_DROP);
  EXPECT_EQ(m->reader->Drain().size(), 25u);
  auto ctr = m->maps.ReadCounters();
  ASSERT_TRUE(ctr.ok());
  EXPECT_EQ(ctr->events, 25u);
  EXPECT_EQ(ctr->sampled_out, 75u);
}

TEST(MonitorBpf, RateLimitBoundsAFloodAndCountsTheRest) {
  auto m = LoadMonitored(kFwChain);
  ASSERT_TRUE(m);
  Settings s = Mode(SFC_MON_DROPS);
  s.rate_per_cpu = 10;  // 10 events/s, burst of 5
  s.burst = 5;
  Set(*m, s);
  constexpr uint32_t kFlood = 20000;
  EXPECT_EQ(Verdict(*m->chain, Dns(), kFlood), XDP_DROP);
  auto events = m->reader->Drain();
  auto ctr = m->maps.ReadCounters();
  ASSERT_TRUE(ctr.ok());
  // The burst, plus at most what the run's duration refilled (well under a second).
  EXPECT_GE(events.size(), 5u);
  EXPECT_LE(events.size(), 15u);
  EXPECT_EQ(ctr->events, events.size());
  EXPECT_EQ(ctr->events + ctr->rate_limited, kFlood);
}

TEST(MonitorBpf, FullRingBufferCountsLostEvents) {
  auto m = LoadMonitored(kFwChain);
  ASSERT_TRUE(m);
  Set(*m, Mode(SFC_MON_DROPS));       // no rate limit, nobody reading
  constexpr uint32_t kFlood = 10000;  // more than 256 KiB of events
  EXPECT_EQ(Verdict(*m->chain, Dns(), kFlood), XDP_DROP);
  auto ctr = m->maps.ReadCounters();
  ASSERT_TRUE(ctr.ok());
  EXPECT_GT(ctr->lost, 0u);
  EXPECT_EQ(ctr->events + ctr->lost, kFlood);
  EXPECT_EQ(m->reader->Drain().size(), ctr->events);
}

TEST(MonitorBpf, LoadBalancerWithoutBackendReportsIt) {
  auto m = LoadMonitored(R"({"name": "monlb", "interfaces": ["lo"], "vnfs": [
      {"name": "fw", "type": "firewall", "config": {"default": "allow", "rules": []}},
      {"name": "lb", "type": "loadbalancer", "config": {"services": [
        {"name": "web", "vip": "10.0.0.100", "proto": "tcp", "port": 80,
         "backends": [{"address": "10.0.1.2", "port": 8080, "weight": 0}]}]}}]})");
  ASSERT_TRUE(m);
  Settings s = Mode(SFC_MON_DROPS);
  s.stages = 1u << 1;  // the load balancer only
  Set(*m, s);
  PacketBuilder syn;
  syn.Ipv4("192.0.2.1", "10.0.0.100").Tcp(1234, 80, kTcpSyn);
  EXPECT_EQ(Verdict(*m->chain, syn.Build()), XDP_DROP);
  auto events = m->reader->Drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].stage, 1);
  EXPECT_EQ(events[0].reason, SFC_REASON_LB_NO_BACKEND);
  EXPECT_EQ(events[0].daddr[0], Ip("10.0.0.100"));
}

// A chain an sfcd without the monitor pinned has no monitor maps: the next
// apply pins them, and the monitor refuses the chain, by name, while its entry
// program (loaded by the old sfcd) does not read them.
TEST(MonitorBpf, ChainFromAnOlderSfcdGetsMapsAndAClearRefusal) {
  auto chain = MustLoad(kFwChain);
  ASSERT_TRUE(chain);
  const PinLayout& pins = chain->engine().pins();
  for (const auto& p :
       {pins.Events(chain->name()), pins.Monitor(chain->name()), pins.MonitorStats(chain->name())})
    ASSERT_EQ(::unlink(p.c_str()), 0) << p;
  EXPECT_EQ(ChainMonitorMaps::Open(pins, chain->name()).status().code(), Code::kNotFound);

  // Traffic still flows; a re-apply pins fresh monitor maps.
  EXPECT_EQ(Verdict(*chain, Dns()), XDP_DROP);
  // The same chain with a rule less: a new generation.
  Status st = chain->Reapply(R"({"name": "mon", "interfaces": ["lo"], "vnfs": [
      {"name": "fw", "type": "firewall", "config": {"default": "allow", "rules": [
        {"id": "block-dns", "proto": "udp", "dport": 53, "action": "drop"}]}}]})");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(PathExists(pins.Events(chain->name())));
  EXPECT_EQ(Verdict(*chain, Dns()), XDP_DROP);
  auto maps = ChainMonitorMaps::Open(pins, chain->name());
  ASSERT_EQ(maps.status().code(), Code::kFailedPrecondition) << maps.status().ToString();
  EXPECT_NE(maps.status().message().find("delete the chain and apply it again"), std::string::npos);
}

TEST(MonitorBpf, MergedSettingsServeEveryWatcher) {
  Settings drops_fw = Mode(SFC_MON_DROPS), all_egress = Mode(SFC_MON_ALL);
  drops_fw.stages = 1;
  drops_fw.sample = 10;
  drops_fw.rate_per_cpu = 100;
  all_egress.stages = SFC_MON_STAGE_EGRESS;
  all_egress.sample = 2;
  all_egress.rate_per_cpu = 50;
  Settings m = monitor::Merge({drops_fw, all_egress});
  EXPECT_EQ(m.mode, SFC_MON_ALL);
  EXPECT_EQ(m.stages, 1u | SFC_MON_STAGE_EGRESS);
  EXPECT_EQ(m.sample, 2u);
  EXPECT_EQ(m.rate_per_cpu, 100u);
  EXPECT_EQ(monitor::Merge({}).mode, SFC_MON_OFF);
  sfc_event ev{};
  ev.stage = 0;
  ev.action = SFC_ACT_NEXT;
  EXPECT_FALSE(monitor::Wants(drops_fw, ev));
  ev.action = SFC_ACT_DROP;
  EXPECT_TRUE(monitor::Wants(drops_fw, ev));
  EXPECT_FALSE(monitor::Wants(all_egress, ev));
}

}  // namespace
}  // namespace sfc::test
