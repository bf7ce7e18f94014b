#include "elb/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>

namespace sfc::elb {
namespace {

using nlohmann::json;

json Web() {
  return json::parse(R"({
    "services": [{
      "name": "web", "vip": "10.0.0.100", "proto": "tcp", "port": 80, "mode": "dnat",
      "health": {"type": "http", "interval_ms": 1000, "rise": 2, "fall": 3, "path": "/healthz",
                 "load_weight": true},
      "backends": [{"address": "10.0.1.2", "port": 8080, "weight": 3},
                   {"address": "10.0.1.3"}]
    }],
    "max_connections": 65536,
    "tcp_close_timeout_s": 30
  })");
}

// The error of parsing `config`, which must fail.
std::string Error(const json& config) {
  auto r = ParseLbConfig(config, "/vnfs/2/config");
  EXPECT_FALSE(r.ok()) << config.dump();
  return r.ok() ? "" : r.status().message();
}

TEST(LbConfig, ParsesAndNormalizes) {
  auto r = ParseLbConfig(Web(), "/vnfs/2/config");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const LbConfig& c = *r;
  EXPECT_EQ(c.max_connections, 65536u);
  EXPECT_EQ(c.tcp_close_timeout_s, 30u);
  ASSERT_EQ(c.services.size(), 1u);
  const ServiceSpec& s = c.services[0];
  EXPECT_EQ(s.Key(), "tcp/10.0.0.100:80");
  EXPECT_EQ(s.table_size, 65537u);
  EXPECT_EQ(s.health.type, HealthType::kHttp);
  EXPECT_EQ(s.health.fall, 3u);
  EXPECT_EQ(s.health.path, "/healthz");
  EXPECT_TRUE(s.health.load_weight);
  ASSERT_EQ(s.backends.size(), 2u);
  EXPECT_EQ(s.backends[0].weight, 3u);
  EXPECT_EQ(s.backends[1].port, 80) << "defaults to the service port";
  EXPECT_EQ(s.backends[1].weight, 1u);
  // Round trip through the normalized form.
  auto again = ParseLbConfig(ToJson(c), "/x");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, c);
}

TEST(LbConfig, EmptyIsValid) {
  auto r = ParseLbConfig(json::object(), "/c");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->services.empty());
  EXPECT_EQ(r->max_connections, kDefaultMaxConnections);
  EXPECT_EQ(r->tcp_close_timeout_s, kDefaultTcpCloseTimeoutS);
}

TEST(LbConfig, Ipv6AndAllPortsAndDsr) {
  json c = json::parse(R"({"services": [
    {"name": "v6", "vip": "2001:db8::100", "proto": "udp", "port": 53,
     "backends": [{"address": "2001:db8::2", "port": 5353}]},
    {"name": "any", "vip": "10.0.0.101", "backends": [{"address": "10.0.1.9"}]},
    {"name": "dsr", "vip": "10.0.0.102", "port": 443, "mode": "dsr", "dsr_tx": false,
     "backends": [{"address": "10.0.1.7", "mac": "02:00:00:aa:bb:cc"}, {"address": "10.0.1.8"}]}
  ]})");
  auto r = ParseLbConfig(c, "/c");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->services[0].Key(), "udp/[2001:db8::100]:53");
  EXPECT_EQ(r->services[1].Key(), "tcp/10.0.0.101:*");
  EXPECT_EQ(r->services[1].backends[0].port, 0);
  EXPECT_EQ(r->services[2].mode, ForwardMode::kDsr);
  EXPECT_FALSE(r->services[2].dsr_tx);
  ASSERT_TRUE(r->services[2].backends[0].mac.has_value());
  EXPECT_EQ(MacToString(*r->services[2].backends[0].mac), "02:00:00:aa:bb:cc");
  EXPECT_FALSE(r->services[2].backends[1].mac.has_value());
  auto again = ParseLbConfig(ToJson(*r), "/x");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *r);
}

TEST(LbConfig, ErrorsNameTheJsonPointer) {
  const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
      {[](json& c) { c["services"][0]["vip"] = "10.0.0.300"; },
       "/vnfs/2/config/services/0/vip: \"10.0.0.300\" is not an IP address"},
      {[](json& c) { c["services"][0]["vip"] = "web.example"; },
       "/vnfs/2/config/services/0/vip: \"web.example\" is not an IP address"},
      {[](json& c) { c["services"][0]["vip"] = "224.0.0.1"; },
       "/vnfs/2/config/services/0/vip: \"224.0.0.1\" is not a unicast address"},
      {[](json& c) { c["services"][0]["backends"][1]["weight"] = -1; },
       "/vnfs/2/config/services/0/backends/1/weight: must not be negative"},
      {[](json& c) { c["services"][0]["backends"][0]["weight"] = 70000; },
       "/vnfs/2/config/services/0/backends/0/weight: 70000 is out of range"},
      {[](json& c) { c["services"][0]["backends"][0]["weight"] = "3"; },
       "/vnfs/2/config/services/0/backends/0/weight: expected integer, got string"},
      {[](json& c) { c["services"][0]["table_size"] = 65536; },
       "/vnfs/2/config/services/0/table_size: 65536 is not prime"},
      {[](json& c) { c["services"][0]["table_size"] = 1; },
       "/vnfs/2/config/services/0/table_size: 1 is out of range"},
      {[](json& c) {
         c["services"][0]["backends"][1] = {{"address", "10.0.1.2"}, {"port", 8080}};
       },
       "/vnfs/2/config/services/0/backends/1: duplicate backend 10.0.1.2:8080"},
      {[](json& c) { c["services"][0]["backends"][0]["address"] = "2001:db8::1"; },
       "/vnfs/2/config/services/0/backends/0/address: \"2001:db8::1\" is IPv6 but the VIP is "
       "IPv4"},
      {[](json& c) { c["services"][0]["backends"][0]["mac"] = "02:00:00:00:00:01"; },
       "/vnfs/2/config/services/0/backends/0/mac: only valid for mode \"dsr\""},
      {[](json& c) { c["services"][0]["proto"] = "sctp"; },
       "/vnfs/2/config/services/0/proto: \"sctp\" is not one of tcp, udp"},
      {[](json& c) { c["services"][0]["mode"] = "nat"; },
       "/vnfs/2/config/services/0/mode: \"nat\" is not one of dnat, dsr"},
      {[](json& c) { c["services"][0]["port"] = 70000; },
       "/vnfs/2/config/services/0/port: 70000 is out of range"},
      {[](json& c) { c["services"][0]["colour"] = "red"; },
       "/vnfs/2/config/services/0/colour: unknown member"},
      {[](json& c) { c["services"][0]["health"]["type"] = "icmp"; },
       "/vnfs/2/config/services/0/health/type: \"icmp\" is not one of tcp, http, none"},
      {[](json& c) { c["services"][0]["health"]["timeout_ms"] = 5000; },
       "/vnfs/2/config/services/0/health/timeout_ms: 5000 exceeds interval_ms 1000"},
      {[](json& c) { c["services"][0]["health"]["path"] = "healthz"; },
       "/vnfs/2/config/services/0/health/path: \"healthz\" must start with '/'"},
      {[](json& c) {
         c["services"][0]["health"] = {{"type", "tcp"}, {"load_weight", true}};
       },
       "/vnfs/2/config/services/0/health/load_weight: only valid when type is \"http\""},
      {[](json& c) { c["services"][0]["health"]["rise"] = 0; },
       "/vnfs/2/config/services/0/health/rise: 0 is out of range"},
      {[](json& c) { c["services"].push_back(c["services"][0]); },
       "/vnfs/2/config/services/1/name: duplicate service name \"web\""},
      {[](json& c) {
         json s = c["services"][0];
         s["name"] = "web2";
         c["services"].push_back(s);
       },
       "/vnfs/2/config/services/1: another service already serves tcp/10.0.0.100:80"},
      {[](json& c) { c["services"][0]["name"] = "no spaces"; },
       "/vnfs/2/config/services/0/name: \"no spaces\" is not a valid name"},
      {[](json& c) { c["services"][0].erase("vip"); }, "/vnfs/2/config/services/0/vip: required"},
      {[](json& c) { c["max_connections"] = 10; },
       "/vnfs/2/config/max_connections: 10 is out of range"},
      {[](json& c) { c["tcp_close_timeout_s"] = 0; },
       "/vnfs/2/config/tcp_close_timeout_s: 0 is out of range"},
      {[](json& c) { c["services"] = json::object(); },
       "/vnfs/2/config/services: expected array, got object"},
      {[](json& c) {
         c["services"][0]["mode"] = "dsr";
         c["services"][0].erase("health");
       },
       "/vnfs/2/config/services/0/backends/0/port: dsr does not rewrite ports"},
      {[](json& c) {
         c["services"][0].erase("port");
         c["services"][0]["backends"][0].erase("port");
       },
       "/vnfs/2/config/services/0/health/port: required for an all-ports service"},
      {[](json& c) {
         c["services"][0].erase("port");
         c["services"][0].erase("health");
       },
       "/vnfs/2/config/services/0/backends/0/port: an all-ports service keeps the client's port"},
      {[](json& c) {
         c["services"][0]["mode"] = "dsr";
         c["services"][0]["backends"][0].erase("port");
         c["services"][0]["backends"][0]["mac"] = "02:00:00:00:00";
       },
       "/vnfs/2/config/services/0/backends/0/mac: \"02:00:00:00:00\" is not a MAC address"},
  };
  for (const auto& [edit, want] : cases) {
    json c = Web();
    edit(c);
    std::string got = Error(c);
    EXPECT_EQ(got.substr(0, want.size()), want) << "got: " << got;
  }
}

TEST(LbConfig, WeightZeroIsValid) {
  json c = Web();
  c["services"][0]["backends"][0]["weight"] = 0;
  auto r = ParseLbConfig(c, "/c");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->services[0].backends[0].weight, 0u);
}

TEST(LbConfig, IpParsingAndPrinting) {
  auto a = IpAddr::Parse("2001:DB8::1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, 6);
  EXPECT_EQ(a->ToString(), "2001:db8::1");
  EXPECT_FALSE(IpAddr::Parse("1.2.3"));
  EXPECT_FALSE(IpAddr::Parse("10.0.0.1/24"));
  EXPECT_FALSE(IpAddr::Parse(""));
  EXPECT_FALSE(ParseMac("02:00:00:00:00:0g"));
  EXPECT_FALSE(ParseMac("02:00:00:00:00:00:00"));
  EXPECT_TRUE(ParseMac("02:00:00:00:00:0A"));
}

}  // namespace
}  // namespace sfc::elb

namespace sfc::elb {
namespace {

// The example chain files in chains/ must stay valid.
TEST(LbConfig, ExampleChainFilesAreValid) {
  for (const char* file : {"chains/loadbalancer.json", "chains/loadbalancer-dsr.json"}) {
    std::ifstream in(std::string(SFC_SOURCE_DIR) + "/" + file);
    ASSERT_TRUE(in) << file;
    json doc = json::parse(in);
    int found = 0;
    for (size_t i = 0; i < doc["vnfs"].size(); i++) {
      const json& v = doc["vnfs"][i];
      if (v["type"] != "loadbalancer") continue;
      found++;
      auto r = ParseLbConfig(v["config"], "/vnfs/" + std::to_string(i) + "/config");
      EXPECT_TRUE(r.ok()) << file << ": " << r.status().ToString();
    }
    EXPECT_EQ(found, 1) << file;
  }
}

}  // namespace
}  // namespace sfc::elb
