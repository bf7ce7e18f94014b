// eFM per-packet cost through BPF_PROG_TEST_RUN, against the table size.
//
// For 1k, 100k and 1M flows already in the table (and an empty one) it runs a
// whole loaded chain (entry -> flowmon -> egress pass) and reports ns/packet:
//   hot     one flow, repeated in-kernel (cache-warm upper bound of speed)
//   spread  one packet each of many different existing flows (cache-cold)
//   new     packets of flows not yet in the table (insert; LRU eviction when full)
// and the same chain with a noop VNF instead, measured the same way, so the
// difference is what flow accounting costs.
//
// usage: efm_bench [--flows 1000,100000,1000000] [--samples N]
#include <bpf/bpf.h>
#include <netinet/in.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "efm/exporter.h"
#include "efm/flow_record.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

struct Flow {
  std::string src, dst;
  uint16_t sport, dport;
};

Flow RandomFlow(std::mt19937& rng) {
  auto octet = [&] { return std::to_string(rng() % 254 + 1); };
  return {"10." + octet() + "." + octet() + "." + octet(), "172.16." + octet() + "." + octet(),
          static_cast<uint16_t>(1024 + rng() % 60000), static_cast<uint16_t>(rng() % 1024 + 1)};
}

Bytes Frame(const Flow& f) {
  return PacketBuilder().Ipv4(f.src, f.dst).Udp(f.sport, f.dport).Payload(18).Build();
}

std::string Chain(const std::string& type, uint32_t max_flows) {
  std::string config =
      type == "flowmon"
          ? R"({"max_flows": )" + std::to_string(max_flows) +
                R"(, "idle_timeout_s": 3600, "active_timeout_s": 7200, "scan_interval_ms": 60000})"
          : "{}";
  return R"({"name": "bench", "interfaces": ["lo"], "vnfs": [{"name": "v", "type": ")" + type +
         R"(", "config": )" + config + "}]}";
}

// Fills the table with `n` flows in batches, as if they had been seen.
bool Prefill(LoadedChain& c, const std::vector<Flow>& flows) {
  auto fd = c.OpenMap("v", "flows");
  if (!fd.ok()) return false;
  std::vector<efm_flow_key> keys;
  std::vector<efm_flow> values;
  for (const Flow& f : flows) {
    efm_flow_key k{};
    efm::MakeFlowKey(f.src, f.dst, IPPROTO_UDP, f.sport, f.dport, &k);
    k.ifindex = 1;
    keys.push_back(k);
    efm_flow v{};
    v.packets = 1;
    v.bytes = 46;
    v.first_seen_ns = 1;
    v.last_seen_ns = 1;
    values.push_back(v);
  }
  for (size_t off = 0; off < keys.size(); off += 8192) {
    uint32_t count = static_cast<uint32_t>(std::min<size_t>(8192, keys.size() - off));
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(fd->get(), &keys[off], &values[off], &count, &opts) != 0) return false;
  }
  return true;
}

double AveragePerRun(LoadedChain& c, const std::vector<Bytes>& frames) {
  uint64_t total = 0;
  for (const auto& f : frames) {
    auto run = c.Run(f);
    if (!run.ok()) return -1;
    total += run->duration_ns;
  }
  return static_cast<double>(total) / frames.size();
}

double Hot(LoadedChain& c, const Bytes& frame) {
  auto run = c.Run(frame, 1, 1'000'000);
  return run.ok() ? run->duration_ns : -1;
}

// Resident set size of this process, in bytes.
uint64_t RssBytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t pages = 0, rss = 0;
  in >> pages >> rss;
  return rss * 4096;
}

// The exporter's scan of a table of `n` flows: first scan (every flow new to
// the tracker) and a steady-state one, plus the daemon memory per flow.
void ExporterScan(LoadedChain& c, uint32_t n) {
  VnfInstanceInfo info{"bench", "v", "flowmon", c.PinPath("v", ""), 0};
  info.pin_dir.pop_back();
  efm::FlowmonConfig cfg;
  cfg.idle_timeout_s = 3600;
  cfg.active_timeout_s = 7200;
  efm::FlowExporter exporter(info, cfg);
  {
    auto fd = c.OpenMap("v", "flows");
    std::vector<efm_flow_key> keys(4096);
    std::vector<efm_flow> vals(4096);
    efm_flow_key in{}, out{};
    bool first = true;
    size_t total = 0;
    auto a = std::chrono::steady_clock::now();
    for (;;) {
      uint32_t count = 4096;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int err = bpf_map_lookup_batch(fd->get(), first ? nullptr : &in, &out, keys.data(),
                                     vals.data(), &count, &opts);
      total += count;
      if (err) break;
      in = out;
      first = false;
    }
    auto b = std::chrono::steady_clock::now();
    std::printf("raw batch read of %zu: %.0f ms\n", total,
                std::chrono::duration<double, std::milli>(b - a).count());
  }
  const uint64_t rss0 = RssBytes();
  auto t0 = std::chrono::steady_clock::now();
  Status first = exporter.ScanOnce();
  auto t1 = std::chrono::steady_clock::now();
  Status second = exporter.ScanOnce();
  auto t2 = std::chrono::steady_clock::now();
  if (!first.ok() || !second.ok()) {
    std::fprintf(stderr, "scan failed: %s %s\n", first.ToString().c_str(),
                 second.ToString().c_str());
    return;
  }
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf(
      "exporter scan of %u flows: first %.0f ms, steady %.0f ms; daemon memory %.0f bytes/flow\n",
      n, ms(t1 - t0), ms(t2 - t1), static_cast<double>(RssBytes() - rss0) / n);
}

int Main(int argc, char** argv) {
  std::vector<uint32_t> sizes = {0, 1000, 100000, 1000000};
  size_t samples = 50000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--flows") {
      sizes = {0};
      std::stringstream ss(argv[i + 1]);
      for (std::string n; std::getline(ss, n, ',');) sizes.push_back(std::stoul(n));
    } else if (a == "--samples") {
      samples = std::stoul(argv[i + 1]);
    }
  }
  std::mt19937 rng(42);
  std::vector<Bytes> spread_new;
  for (size_t i = 0; i < samples; ++i) spread_new.push_back(Frame(RandomFlow(rng)));

  {
    auto noop = LoadedChain::Load(Chain("noop", 0));
    if (!noop.ok()) return std::fprintf(stderr, "%s\n", noop.status().ToString().c_str()), 1;
    std::printf("noop chain (baseline): hot %.1f ns/pkt, spread %.1f ns/pkt\n",
                Hot(**noop, spread_new[0]), AveragePerRun(**noop, spread_new));
  }
  std::printf("%-12s %12s %12s %12s\n", "flows", "hot ns/pkt", "spread ns", "new ns");
  for (uint32_t n : sizes) {
    // Room for the new flows too, so "new" measures inserts, not evictions,
    // except in the last (full) row.
    const uint32_t max_flows = std::max<uint32_t>(n + samples + 1024, 4096);
    auto c = LoadedChain::Load(Chain("flowmon", max_flows));
    if (!c.ok()) return std::fprintf(stderr, "%s\n", c.status().ToString().c_str()), 1;
    std::vector<Flow> flows;
    for (uint32_t i = 0; i < n; ++i) flows.push_back(RandomFlow(rng));
    if (n && !Prefill(**c, flows)) return std::fprintf(stderr, "prefill failed\n"), 1;
    std::vector<Bytes> existing;
    for (size_t i = 0; i < samples && n; ++i) existing.push_back(Frame(flows[rng() % n]));
    const double hot = Hot(**c, spread_new[0]);
    const double spread = n ? AveragePerRun(**c, existing) : 0;
    std::vector<Bytes> fresh;
    for (size_t i = 0; i < samples; ++i) fresh.push_back(Frame(RandomFlow(rng)));
    const double insert = AveragePerRun(**c, fresh);
    std::printf("%-12u %12.1f %12.1f %12.1f\n", n, hot, spread, insert);
    if (n == sizes.back() && n > 0) ExporterScan(**c, n + static_cast<uint32_t>(samples));
  }
  // A full table: every new flow evicts the least recently used one.
  {
    auto c = LoadedChain::Load(Chain("flowmon", 65536));
    if (!c.ok()) return 1;
    std::vector<Flow> flows;
    for (uint32_t i = 0; i < 65536; ++i) flows.push_back(RandomFlow(rng));
    Prefill(**c, flows);
    std::vector<Bytes> fresh;
    for (size_t i = 0; i < samples; ++i) fresh.push_back(Frame(RandomFlow(rng)));
    std::printf("full 65536 table, new flow with LRU eviction: %.1f ns/pkt\n",
                AveragePerRun(**c, fresh));
  }
  return 0;
}

}  // namespace
}  // namespace sfc::test

int main(int argc, char** argv) { return sfc::test::Main(argc, argv); }
