// What a Prometheus scrape of sfcd costs, against the size of the tables
// behind it: a timed chain firewall -> flowmon -> loadbalancer, scraped
// (MetricsServer::Render(): read the data plane + serialize, what GET
// /metrics does minus HTTP) with empty tables, then with N firewall rules,
// N conntrack entries in the firewall and the load balancer and N flows in
// the flow monitor. The scrape must not grow with N.
//
// usage: metrics_bench [--size 1000000] [--scrapes 50] [--json FILE]
#include <bpf/bpf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "efw/maps.h"
#include "engine/bpf_util.h"
#include "metrics/metrics_server.h"
#include "support/chain_fixture.h"

namespace sfc::test {
namespace {

using nlohmann::json;

std::string Spec(uint32_t n) {
  const std::string ns = std::to_string(n);
  return R"({"name": "scrape", "interfaces": ["lo"], "timing": true, "vnfs": [
    {"name": "fw", "type": "firewall", "config": {"default": "allow", "max_rules": )" +
         std::to_string(n + 16) + R"(, "conntrack": {"max_entries": )" + ns + R"(}}},
    {"name": "fm", "type": "flowmon", "config": {"max_flows": )" +
         ns +
         R"(, "scan_interval_ms": 60000}},
    {"name": "lb", "type": "loadbalancer", "config": {"max_connections": )" +
         ns +
         R"(, "services": [{"name": "web", "vip": "10.200.0.1", "port": 80, "proto": "tcp",
       "backends": [{"address": "10.201.0.1", "port": 80}, {"address": "10.201.0.2", "port": 80}]}]}}]})";
}

// Fills a hash map with `n` distinct keys (a counter in the first bytes) and
// zero values, in batches: only the table's size matters here.
bool FillHash(LoadedChain& c, const std::string& vnf, const std::string& map, uint32_t n) {
  auto fd = c.OpenMap(vnf, map);
  if (!fd.ok()) return false;
  auto info = MapInfo(fd->get());
  if (!info.ok()) return false;
  const uint32_t batch = 8192;
  std::vector<uint8_t> keys(size_t{info->key_size} * batch),
      values(size_t{info->value_size} * batch);
  for (uint32_t off = 0; off < n; off += batch) {
    uint32_t count = std::min(batch, n - off);
    std::fill(keys.begin(), keys.end(), 0);
    for (uint32_t i = 0; i < count; ++i) {
      uint32_t k = off + i + 1;
      std::memcpy(&keys[size_t{i} * info->key_size], &k, sizeof(k));
    }
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(fd->get(), keys.data(), values.data(), &count, &opts) != 0) {
      std::fprintf(stderr, "filling %s/%s at %u: %s\n", vnf.c_str(), map.c_str(), off,
                   std::strerror(errno));
      return false;
    }
  }
  return true;
}

json Measure(metrics::MetricsServer& m, int scrapes) {
  std::vector<double> ms;
  size_t bytes = 0;
  for (int i = 0; i < scrapes; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    std::string text = m.Render();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    bytes = text.size();
  }
  std::sort(ms.begin(), ms.end());
  return {{"scrapes", scrapes},
          {"median_ms", ms[ms.size() / 2]},
          {"p90_ms", ms[ms.size() * 9 / 10]},
          {"max_ms", ms.back()},
          {"bytes", bytes}};
}

int Main(int argc, char** argv) {
  uint32_t n = 1000000;
  int scrapes = 50;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--size" && i + 1 < argc) {
      n = static_cast<uint32_t>(std::stoul(argv[++i]));
    } else if (a == "--scrapes" && i + 1 < argc) {
      scrapes = std::stoi(argv[++i]);
    } else if (a == "--json" && i + 1 < argc) {
      out = argv[++i];
    } else {
      std::fprintf(stderr, "usage: metrics_bench [--size N] [--scrapes N] [--json FILE]\n");
      return 2;
    }
  }
  auto c = LoadedChain::Load(Spec(n));
  if (!c.ok()) {
    std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
    return 1;
  }
  metrics::MetricsServer m((*c)->engine());
  json result = {{"what",
                  "sfcd /metrics scrape (collect + serialize, no HTTP): timed chain "
                  "firewall -> flowmon -> loadbalancer"},
                 {"size", n}};
  result["empty_tables"] = Measure(m, scrapes);

  auto t0 = std::chrono::steady_clock::now();
  std::vector<efw::Rule> rules;
  rules.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    efw::Rule r;
    r.id = "r" + std::to_string(i);
    efw::Prefix p;
    p.family = 4;
    p.len = 32;
    uint32_t a = 0x0a000000u + i;  // 10.x.y.z, distinct
    p.addr[0] = a >> 24;
    p.addr[1] = a >> 16;
    p.addr[2] = a >> 8;
    p.addr[3] = a;
    r.src = p;
    r.action = efw::Action::kDrop;
    rules.push_back(std::move(r));
  }
  auto tables = efw::FirewallTables::FromPins(
      (*c)->PinPath("fw", "").substr(0, (*c)->PinPath("fw", "").size() - 1));
  if (!tables.ok() || !tables->Install(rules, efw::Action::kAllow).ok()) {
    std::fprintf(stderr, "installing %u rules failed\n", n);
    return 1;
  }
  if (!FillHash(**c, "fw", "conntrack", n) || !FillHash(**c, "fm", "flows", n) ||
      !FillHash(**c, "lb", "conntrack", n))
    return 1;
  result["fill_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result["full_tables"] = Measure(m, scrapes);
  result["full_tables"]["rules"] = n;
  result["full_tables"]["fw_conntrack_entries"] = n;
  result["full_tables"]["fm_flows"] = n;
  result["full_tables"]["lb_conntrack_entries"] = n;

  // The firewall's background pass for the busiest rules (efw::TopRulesCache):
  // off the scrape path, but it is what --metrics-listen costs every 10 s.
  std::vector<double> pass_ms;
  for (int i = 0; i < 5; ++i) {
    auto p0 = std::chrono::steady_clock::now();
    auto top = tables->TopRules(10);
    if (!top.ok()) {
      std::fprintf(stderr, "%s\n", top.status().ToString().c_str());
      return 1;
    }
    pass_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - p0).count());
  }
  std::sort(pass_ms.begin(), pass_ms.end());
  result["top_rules_pass"] = {{"rules", n},
                              {"passes", pass_ms.size()},
                              {"median_ms", pass_ms[2]},
                              {"max_ms", pass_ms.back()}};

  std::printf("%s\n", result.dump(1).c_str());
  if (!out.empty()) std::ofstream(out) << result.dump(1) << "\n";
  return 0;
}

}  // namespace
}  // namespace sfc::test

int main(int argc, char** argv) { return sfc::test::Main(argc, argv); }
