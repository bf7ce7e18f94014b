// sfcd --metrics-listen scraped by Debian's real Prometheus server during
// traffic: the rate its query API computes from sfc_vnf_rx_packets_total
// matches the one sfcctl stats shows, the per-VNF latency histograms of a
// timed chain reach both sfcctl stats --latency and /metrics, and the API's
// own requests are counted.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kMetricsAddr = "127.0.0.1:9469";  // inside the VM namespace
constexpr const char* kPromAddr = "127.0.0.1:9470";

class MetricsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sfcd_.Start(std::string("--metrics-listen ") + kMetricsAddr)) << sfcd_.log();
    prom_dir_ = Sh("mktemp -d /tmp/sfc-prom-XXXXXX").output;
    while (!prom_dir_.empty() && prom_dir_.back() == '\n') prom_dir_.pop_back();
    ASSERT_FALSE(prom_dir_.empty());
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
    if (!prom_dir_.empty()) Sh("rm -rf " + prom_dir_);
  }

  static uint64_t Counter(const json& counters, const std::string& name) {
    for (const auto& c : counters)
      if (c["name"] == name) return std::stoull(c["value"].get<std::string>());
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }

  // One instant query through Prometheus' HTTP API; NaN when it has no answer.
  double PromQuery(const std::string& promql) {
    CommandResult r =
        topo_.In(topo_.vm_ns(), std::string("curl -sf --get http://") + kPromAddr +
                                    "/api/v1/query --data-urlencode 'query=" + promql + "'");
    if (r.exit_code != 0) return NAN;
    json j = json::parse(r.output, nullptr, false);
    if (j.is_discarded() || j["status"] != "success" || j["data"]["result"].empty()) return NAN;
    return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
  }

  std::string Scrape() {
    return topo_.In(topo_.vm_ns(), std::string("curl -sf http://") + kMetricsAddr + "/metrics")
        .output;
  }

  Topology topo_{1};
  Sfcd sfcd_{topo_};
  std::string prom_dir_;
};

TEST_F(MetricsE2E, PrometheusRateMatchesSfcctlStats) {
  json ifs = json::array();
  for (const char* i : {"eth0", "eth1"}) ifs.push_back({{"name", i}, {"mode", "native"}});
  json spec = {{"name", "web"},
               {"interfaces", ifs},
               {"timing", true},
               {"vnfs", {{{"name", "n0"}, {"type", "noop"}}, {{"name", "n1"}, {"type", "noop"}}}},
               {"egress", {{"action", "fib"}}}};
  CommandResult r = sfcd_.Apply(spec.dump());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // The exposition itself: counters by BTF name with chain/vnf/type labels.
  std::string text = Scrape();
  ASSERT_NE(text.find("sfc_build_info{"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(sfc_vnf_rx_packets_total{chain="web",vnf="n0",type="noop"})"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(sfc_chain_egress_redirect_total{chain="web"})"), std::string::npos);

  {
    std::ofstream cfg(prom_dir_ + "/prometheus.yml");
    cfg << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        << "scrape_configs:\n  - job_name: sfcd\n    static_configs:\n"
        << "      - targets: ['" << kMetricsAddr << "']\n";
  }
  topo_.Spawn(topo_.vm_ns(), "prometheus --config.file=" + prom_dir_ +
                                 "/prometheus.yml --storage.tsdb.path=" + prom_dir_ +
                                 "/data --web.listen-address=" + kPromAddr + " > " + prom_dir_ +
                                 "/prometheus.log 2>&1");

  // Steady traffic: 2000 UDP datagrams/s for 20 s from the client to server 1.
  topo_.Spawn(topo_.server_ns(1), "iperf3 -s -1");
  std::this_thread::sleep_for(milliseconds(500));
  topo_.Spawn(topo_.client_ns(),
              "iperf3 -u -b 8M -l 500 -t 20 -c " + topo_.server_ip(1) + " > /dev/null 2>&1");
  std::this_thread::sleep_for(seconds(3));

  // sfcctl's rate over 10 s, and Prometheus' rate over the same window.
  json before = sfcd_.CtlJson("stats web");
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(seconds(10));
  json after = sfcd_.CtlJson("stats web");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double ctl_rate = (Counter(after["vnfs"][0]["counters"], "rx_packets") -
                     Counter(before["vnfs"][0]["counters"], "rx_packets")) /
                    secs;
  std::this_thread::sleep_for(seconds(1));  // let Prometheus scrape the window's end
  double prom_rate = PromQuery(R"(rate(sfc_vnf_rx_packets_total{chain="web",vnf="n0"}[10s]))");
  std::string plog = Sh("tail -20 " + prom_dir_ + "/prometheus.log").output;
  ASSERT_FALSE(std::isnan(prom_rate)) << "Prometheus has no rate; its log:\n" << plog;
  EXPECT_GT(ctl_rate, 1000.0);
  EXPECT_NEAR(prom_rate, ctl_rate, 0.15 * ctl_rate)
      << "prometheus " << prom_rate << " sfcctl " << ctl_rate;
  std::printf("rx_packets/s of n0: sfcctl %.1f, Prometheus rate() %.1f\n", ctl_rate, prom_rate);

  // Per-VNF latency: the CLI table and JSON, and the histogram in Prometheus.
  json lat = sfcd_.CtlJson("stats web --latency");
  ASSERT_EQ(lat["vnfs"].size(), 2u);
  for (const auto& v : lat["vnfs"]) {
    uint64_t count = std::stoull(v["latency"]["count"].get<std::string>());
    uint64_t p50 = std::stoull(v["latency"]["p50_ns"].get<std::string>());
    uint64_t p99 = std::stoull(v["latency"]["p99_ns"].get<std::string>());
    EXPECT_GT(count, 10000u) << v.dump();
    EXPECT_GT(p50, 0u) << v.dump();
    EXPECT_GE(p99, p50) << v.dump();
    EXPECT_EQ(v["latency"]["buckets"].size(), 32u);
  }
  CommandResult table = sfcd_.Ctl("stats web --latency");
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("P99_NS"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("n1"), std::string::npos) << table.output;
  double q99 =
      PromQuery(R"(histogram_quantile(0.99, sfc_vnf_latency_ns_bucket{chain="web",vnf="n0"}))");
  EXPECT_FALSE(std::isnan(q99));
  EXPECT_GT(q99, 0.0);

  // The API counted its own requests (the Apply and the stats calls above).
  double applies =
      PromQuery(R"(sfc_api_requests_total{method="/sfc.v1.ChainService/Apply",code="OK"})");
  EXPECT_GE(applies, 1.0);
  double builds = PromQuery("sfc_build_info");
  EXPECT_EQ(builds, 1.0);
}

// Table fill of the firewall, flow monitor and load balancer, and the
// firewall's busiest rules: none of them walks a table at scrape time (the
// flow table's fill comes from the exporter's scan, the connection table's
// from the load balancer's sweep, the top rules from a background pass).
TEST_F(MetricsE2E, TableFillAndTopRules) {
  json ifs = json::array();
  for (const char* i : {"eth0", "eth1"}) ifs.push_back({{"name", i}, {"mode", "native"}});
  const std::string s1 = topo_.server_ip(1);
  json rules = json::array({
      {{"id", "established"}, {"state", {"established", "related"}}, {"action", "allow"}},
      {{"id", "ping"}, {"proto", "icmp"}, {"action", "allow"}},
      {{"id", "udp-to-s1"}, {"dst", s1 + "/32"}, {"proto", "udp"}, {"action", "allow"}},
      {{"id", "never"}, {"proto", "tcp"}, {"dport", 1}, {"action", "drop"}},
  });
  json spec = {{"name", "tbl"},
               {"interfaces", ifs},
               {"vnfs",
                {{{"name", "fw"},
                  {"type", "firewall"},
                  {"config", {{"default", "allow"}, {"rules", rules}}}},
                 {{"name", "fm"},
                  {"type", "flowmon"},
                  {"config", {{"max_flows", 65536}, {"scan_interval_ms", 500}}}},
                 {{"name", "lb"},
                  {"type", "loadbalancer"},
                  {"config",
                   {{"services",
                     {{{"name", "dns"},
                       {"vip", "10.99.0.1"},
                       {"proto", "udp"},
                       {"port", 53},
                       {"backends", {{{"address", s1}, {"port", 53}}}}}}}}}}}},
               {"egress", {{"action", "fib"}}}};
  CommandResult r = sfcd_.Apply(spec.dump());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // 40 UDP flows to server 1 (each its own source port), then a ping.
  for (int i = 0; i < 40; ++i)
    topo_.In(topo_.client_ns(),
             "echo x | nc -u -w0 -p " + std::to_string(20000 + i) + " " + s1 + " 9");
  ASSERT_EQ(topo_.In(topo_.client_ns(), "ping -c3 -i0.2 -W1 " + s1).exit_code, 0);

  // The first scrape starts the top-rules pass; the flow monitor scans every
  // 500 ms. Poll until all three show up.
  auto value = [](const std::string& text, const std::string& series) -> double {
    size_t at = text.find(series + " ");
    if (at == std::string::npos) return NAN;
    return std::stod(text.substr(at + series.size() + 1));
  };
  const std::string fw = R"(chain="tbl",vnf="fw",type="firewall")";
  const std::string fm = R"(chain="tbl",vnf="fm",type="flowmon")";
  const std::string lb = R"(chain="tbl",vnf="lb",type="loadbalancer")";
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text = Scrape();
    if (!std::isnan(value(text, "sfc_vnf_fw_rule_packets_total{" + fw + R"(,rule="udp-to-s1"})")) &&
        !std::isnan(value(text, "sfc_vnf_table_entries{" + fm + R"(,table="flows"})")) &&
        !std::isnan(value(text, "sfc_vnf_table_entries{" + lb + R"(,table="conntrack"})")))
      break;
    std::this_thread::sleep_for(milliseconds(500));
  }

  // Rules: the busiest ones with their counters, as `sfcctl fw list` has them.
  json list = sfcd_.CtlJson("fw list tbl fw");
  std::map<std::string, uint64_t> packets;
  for (const auto& rule : list["rules"])
    packets[rule["rule"]["id"].get<std::string>()] =
        std::stoull(rule["packets"].get<std::string>());
  EXPECT_EQ(value(text, "sfc_vnf_fw_rule_packets_total{" + fw + R"(,rule="udp-to-s1"})"),
            static_cast<double>(packets["udp-to-s1"]))
      << text;
  EXPECT_EQ(packets["udp-to-s1"], 40u) << list.dump();
  EXPECT_GT(value(text, "sfc_vnf_fw_rule_bytes_total{" + fw + R"(,rule="udp-to-s1"})"), 40 * 28.0);
  EXPECT_EQ(value(text, "sfc_vnf_fw_rule_packets_total{" + fw + R"(,rule="ping"})"), 1.0) << text;
  // A rule that matched nothing is not among the busiest.
  EXPECT_EQ(text.find(R"(rule="never")"), std::string::npos);

  // Flow table: the 40 UDP flows, the ping's two directions, the server's
  // port unreachables (one flow) and whatever IPv6 neighbour discovery the
  // namespaces sent.
  double flows = value(text, "sfc_vnf_table_entries{" + fm + R"(,table="flows"})");
  EXPECT_GE(flows, 42.0) << text;
  EXPECT_LE(flows, 60.0) << text;
  EXPECT_EQ(value(text, "sfc_vnf_table_capacity{" + fm + R"(,table="flows"})"), 65536.0) << text;
  // Firewall conntrack: the data plane's own count.
  EXPECT_GE(value(text, "sfc_vnf_table_entries{" + fw + R"(,table="conntrack"})"), 41.0) << text;
  // Load balancer: no packet went to the VIP, so its table is empty.
  EXPECT_EQ(value(text, "sfc_vnf_table_entries{" + lb + R"(,table="conntrack"})"), 0.0) << text;
  EXPECT_GT(value(text, "sfc_vnf_table_capacity{" + lb + R"(,table="conntrack"})"), 0.0) << text;
  // Counters are typed as such.
  EXPECT_NE(text.find("# TYPE sfc_vnf_fw_rule_packets_total counter"), std::string::npos);
}

}  // namespace
}  // namespace sfc::test
