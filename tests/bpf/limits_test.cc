// Full tables through BPF_PROG_TEST_RUN in one loaded chain (entry ->
// firewall -> flowmon -> egress): both tables are sized from the chain file,
// filled past capacity with distinct UDP flows, and every flow that did not
// fit is counted. CI size 4,096 entries; SFC_LIMIT_TABLE=N (make stress: 2^20)
// runs the same at N.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "efm/exporter.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

uint64_t Vnf(LoadedChain& c, const char* vnf, const char* counter) {
  auto v = c.VnfCounter(vnf, counter);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : ~0ull;
}

TEST(LimitsBpf, FullConntrackAndFlowTablesCountEveryEviction) {
  const char* env = std::getenv("SFC_LIMIT_TABLE");
  const uint32_t capacity =
      env && *env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 4096;
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  const uint32_t overflow = std::uniform_int_distribution<uint32_t>(1, capacity / 2)(rng);
  const uint32_t flows = capacity + overflow;
  std::printf("seed %u: capacity %u, flows %u (overflow %u)\n", seed, capacity, flows, overflow);

  const std::string n = std::to_string(capacity);
  auto c = LoadedChain::Load(
      R"({"name": "lim", "interfaces": ["lo"], "vnfs": [
          {"name": "fw", "type": "firewall", "config": {"default": "allow", "conntrack": {"max_entries": )" +
      n +
      R"(}}},
          {"name": "mon", "type": "flowmon", "config": {"max_flows": )" +
      n + R"(, "idle_timeout_s": 3600, "active_timeout_s": 7200, "scan_interval_ms": 60000}}]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  LoadedChain& chain = **c;
  VnfInstanceInfo mon{"lim", "mon", "flowmon", chain.PinPath("mon", ""), 1};
  mon.pin_dir.pop_back();  // PinPath(vnf, "") ends in '/'
  efm::FlowmonConfig cfg;
  cfg.idle_timeout_s = 3600;
  cfg.active_timeout_s = 7200;
  efm::FlowExporter exporter(mon, cfg);
  ASSERT_TRUE(exporter.ScanOnce().ok());  // baseline: empty table

  // Flow i: source 10.<i / 60000>.0.1, source port 1024 + i % 60000.
  for (uint32_t i = 0; i < flows; ++i) {
    const std::string src = "10." + std::to_string(i / 60000) + ".0.1";
    auto run = chain.Run(PacketBuilder().Ipv4(src, "192.0.2.1").Udp(1024 + i % 60000, 53).Build());
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    ASSERT_EQ(run->action, XDP_PASS) << "flow " << i;
  }

  // Conntrack holds exactly max_entries; each insert past it evicted one.
  EXPECT_EQ(Vnf(chain, "fw", "ct_inserted"), flows);
  EXPECT_EQ(Vnf(chain, "fw", "ct_evicted"), overflow);

  // The flow table (a kernel LRU) may evict a little before it is full; the
  // exporter counts exactly what it dropped.
  ASSERT_TRUE(exporter.ScanOnce().ok());
  auto s = exporter.Summary();
  EXPECT_EQ(Vnf(chain, "mon", "flows_created"), flows);
  EXPECT_EQ(Vnf(chain, "mon", "flow_insert_fail"), 0u);
  EXPECT_EQ(s.max_flows, capacity);
  EXPECT_LE(s.totals.active_flows, capacity);
  EXPECT_GE(s.totals.evictions, overflow);
  EXPECT_EQ(s.totals.evictions, flows - s.totals.active_flows);
  std::printf("conntrack evicted %llu; flow table: %llu active, %llu evicted\n",
              static_cast<unsigned long long>(Vnf(chain, "fw", "ct_evicted")),
              static_cast<unsigned long long>(s.totals.active_flows),
              static_cast<unsigned long long>(s.totals.evictions));
}

}  // namespace
}  // namespace sfc::test
