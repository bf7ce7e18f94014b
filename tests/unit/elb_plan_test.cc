#include "elb/plan.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace sfc::elb {
namespace {

using nlohmann::json;

LbConfig Config(const char* text) {
  auto r = ParseLbConfig(json::parse(text), "/c");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : LbConfig{};
}

const char* kTwo = R"({"services": [
  {"name": "web", "vip": "10.0.0.100", "port": 80,
   "backends": [{"address": "10.0.1.2", "port": 8080}, {"address": "10.0.1.3", "port": 8080, "weight": 0}]},
  {"name": "dns", "vip": "2001:db8::53", "proto": "udp", "port": 53, "mode": "dsr",
   "backends": [{"address": "2001:db8::2", "mac": "02:00:00:00:00:02"}, {"address": "2001:db8::3"}]}
]})";

TEST(LbPlan, MapEntriesMatchTheAbi) {
  LbConfig c = Config(kTwo);
  LbPlan p = BuildPlan(c, {}, {});
  ASSERT_EQ(p.services.size(), 2u);
  const auto& web = p.services[0];
  EXPECT_EQ(web.value.index, 0u);
  EXPECT_EQ(web.value.mode, ELB_MODE_DNAT);
  EXPECT_EQ(web.value.table_size, 65537u);
  EXPECT_EQ(web.key.family, 4);
  EXPECT_EQ(web.key.proto, 6);
  EXPECT_EQ(web.key.port, htons(80));
  EXPECT_EQ(web.key.vip[0], inet_addr("10.0.0.100"));
  EXPECT_EQ(web.key.vip[1] | web.key.vip[2] | web.key.vip[3], 0u);
  EXPECT_EQ(SvcKeyString(web.key), "tcp/10.0.0.100:80");

  const auto& dns = p.services[1];
  EXPECT_EQ(dns.value.index, 1u);
  EXPECT_EQ(dns.value.mode, ELB_MODE_DSR);
  EXPECT_EQ(dns.value.flags, ELB_SVC_F_DSR_TX);
  EXPECT_EQ(SvcKeyString(dns.key), "udp/[2001:db8::53]:53");

  ASSERT_EQ(p.backends.size(), 4u);
  uint32_t id = p.BackendId(c.services[0], c.services[0].backends[0]);
  ASSERT_NE(id, 0u);
  const PlannedBackend& b = p.backends.at(id);
  EXPECT_EQ(b.value.addr[0], inet_addr("10.0.1.2"));
  EXPECT_EQ(b.value.port, htons(8080));
  EXPECT_EQ(b.value.svc_index, 0u);
  EXPECT_EQ(b.value.flags, 0);
  EXPECT_EQ(p.vips.size(), 2u);
}

TEST(LbPlan, WeightZeroStaysInBackendsButNotInTable) {
  LbConfig c = Config(kTwo);
  LbPlan p = BuildPlan(c, {}, {});
  uint32_t drained = p.BackendId(c.services[0], c.services[0].backends[1]);
  ASSERT_TRUE(p.backends.count(drained));
  EXPECT_EQ(p.backends.at(drained).value.flags, 0) << "drained is not down: connections stay";
  for (const auto& in : p.services[0].table_input)
    if (in.id == p.SlotOf(drained)) {
      EXPECT_EQ(in.weight, 0u);
    }
}

TEST(LbPlan, DownAndUnresolvedBackendsLeaveTheTable) {
  LbConfig c = Config(kTwo);
  LbPlan p0 = BuildPlan(c, {}, {});
  uint32_t web0 = p0.BackendId(c.services[0], c.services[0].backends[0]);
  uint32_t dns1 = p0.BackendId(c.services[1], c.services[1].backends[1]);
  EXPECT_EQ(p0.backends.at(dns1).state, BackendState::kNoMac);
  EXPECT_EQ(p0.backends.at(dns1).value.flags, ELB_BE_F_DOWN);

  HealthView h;
  h[web0].healthy = false;
  h[dns1].resolved_mac = MacAddr{2, 0, 0, 0, 0, 3};
  LbPlan p = BuildPlan(c, h, PriorLayout{p0.ServiceIndices(), {}});
  EXPECT_EQ(p.backends.at(web0).state, BackendState::kDown);
  EXPECT_EQ(p.backends.at(web0).value.flags, ELB_BE_F_DOWN);
  EXPECT_NE(p.services[0].fingerprint, p0.services[0].fingerprint);
  EXPECT_EQ(p.backends.at(dns1).state, BackendState::kUp);
  EXPECT_EQ(p.backends.at(dns1).value.mac[5], 3);
  EXPECT_NE(p.services[1].fingerprint, p0.services[1].fingerprint);
}

TEST(LbPlan, ReportedLoadScalesTheWeight) {
  EXPECT_EQ(EffectiveWeight(10, 100), 10u);
  EXPECT_EQ(EffectiveWeight(10, 45), 5u);  // rounded
  EXPECT_EQ(EffectiveWeight(1, 10), 1u) << "never rounded down to drained";
  EXPECT_EQ(EffectiveWeight(10, 0), 0u);
  EXPECT_EQ(EffectiveWeight(0, 100), 0u);
  EXPECT_EQ(EffectiveWeight(65535, 100), 65535u);

  LbConfig c = Config(kTwo);
  c.services[0].backends[1].weight = 4;
  LbPlan p0 = BuildPlan(c, {}, {});
  uint32_t b1 = p0.BackendId(c.services[0], c.services[0].backends[1]);
  HealthView h;
  h[b1].weight_percent = 50;
  LbPlan p = BuildPlan(c, h, {});
  EXPECT_EQ(p.backends.at(b1).weight, 2u);
  EXPECT_NE(p.services[0].fingerprint, p0.services[0].fingerprint);
  for (const auto& in : p.services[0].table_input) {
    if (in.id == p.SlotOf(b1)) {
      EXPECT_EQ(in.weight, 2u);
    }
  }
}

TEST(LbPlan, IdsAreStableAcrossOrderAndEdits) {
  LbConfig c = Config(kTwo);
  LbPlan p1 = BuildPlan(c, {}, {});
  LbConfig swapped = c;
  std::swap(swapped.services[0], swapped.services[1]);
  std::swap(swapped.services[1].backends[0], swapped.services[1].backends[1]);
  LbPlan p2 = BuildPlan(swapped, {}, {});
  for (const auto& s : c.services)
    for (const auto& b : s.backends) EXPECT_EQ(p1.BackendId(s, b), p2.BackendId(s, b));
  // Same tables: fingerprints do not depend on order.
  EXPECT_EQ(p1.services[0].fingerprint, p2.services[1].fingerprint);
}

TEST(LbPlan, PriorIndicesAreKeptAndNewServicesFillGaps) {
  LbConfig c = Config(kTwo);
  std::map<std::string, uint32_t> prior = {{"udp/[2001:db8::53]:53", 0}, {"tcp/gone:1", 1}};
  LbPlan p = BuildPlan(c, {}, PriorLayout{prior, {}});
  EXPECT_EQ(p.services[1].value.index, 0u);  // kept
  EXPECT_EQ(p.services[0].value.index, 1u);  // lowest free
  for (const auto& [id, b] : p.backends)
    EXPECT_EQ(b.value.svc_index, b.service == &c.services[0] ? 1u : 0u);
}

TEST(LbPlan, BackendSlotsAreKeptAndNeverReusedByTheSameChange) {
  LbConfig c = Config(kTwo);
  LbPlan p0 = BuildPlan(c, {}, {});
  std::set<uint32_t> slots;
  for (const auto& [id, b] : p0.backends) {
    EXPECT_GE(b.slot, 1u) << "slot 0 means no backend";
    EXPECT_LT(b.slot, kMaxBackendSlots);
    EXPECT_TRUE(slots.insert(b.slot).second);
    EXPECT_EQ(b.value.id, id);
  }
  // The running data plane had them elsewhere: they stay there. A backend
  // that left freed slot 1; the new one does not take it in the same change.
  PriorLayout prior;
  uint32_t web0 = p0.BackendId(c.services[0], c.services[0].backends[0]);
  uint32_t dns0 = p0.BackendId(c.services[1], c.services[1].backends[0]);
  prior.backend_slot = {{web0, 7}, {dns0, 3}, {0xdeadbeef, 1}};
  LbConfig more = c;
  BackendSpec extra;
  extra.address = *IpAddr::Parse("10.0.1.9");
  extra.port = 8080;
  more.services[0].backends.push_back(extra);
  LbPlan p = BuildPlan(more, {}, prior);
  EXPECT_EQ(p.SlotOf(web0), 7u);
  EXPECT_EQ(p.SlotOf(dns0), 3u);
  std::set<uint32_t> now;
  for (const auto& [id, b] : p.backends) {
    EXPECT_NE(b.slot, 1u);
    EXPECT_TRUE(now.insert(b.slot).second);
  }
  // Tables name slots.
  for (const auto& in : p.services[0].table_input) EXPECT_TRUE(now.count(in.id));
}

TEST(LbPlan, IdsAreNeverZeroAndUnique) {
  LbConfig c;
  ServiceSpec s;
  s.name = "big";
  s.vip = *IpAddr::Parse("10.0.0.1");
  s.port = 80;
  for (int i = 0; i < 5000; i++) {
    BackendSpec b;
    b.address =
        *IpAddr::Parse("10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
    b.port = 80;
    s.backends.push_back(b);
  }
  c.services.push_back(s);
  auto ids = AssignBackendIds(c);
  std::set<uint32_t> seen;
  for (const auto& [k, id] : ids) {
    EXPECT_NE(id, 0u);
    EXPECT_TRUE(seen.insert(id).second);
  }
  EXPECT_EQ(seen.size(), 5000u);
}

}  // namespace
}  // namespace sfc::elb
