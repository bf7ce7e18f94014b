#include <gtest/gtest.h>
#include <sys/socket.h>

#include "efm/config.h"

namespace sfc::efm {
namespace {

using nlohmann::json;

TEST(EfmConfig, DefaultsWhenEmpty) {
  auto c = ParseFlowmonConfig(json::object(), "/vnfs/1/config");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->max_flows, 1048576u);
  EXPECT_EQ(c->idle_timeout_s, 15u);
  EXPECT_EQ(c->active_timeout_s, 60u);
  EXPECT_TRUE(c->ipfix.collectors.empty());
  EXPECT_EQ(c->ipfix.observation_domain, 1u);
  EXPECT_EQ(c->ipfix.template_refresh_s, 60u);
}

TEST(EfmConfig, FullConfig) {
  auto c = ParseFlowmonConfig(json::parse(R"({
      "max_flows": 4096, "idle_timeout_s": 5, "active_timeout_s": 30, "scan_interval_ms": 200,
      "ipfix": {"collectors": ["127.0.0.1:4739", "[::1]:9995"], "observation_domain": 7,
                "template_refresh_s": 10}})"),
                              "/vnfs/0/config");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->max_flows, 4096u);
  EXPECT_EQ(c->idle_timeout_s, 5u);
  EXPECT_EQ(c->active_timeout_s, 30u);
  EXPECT_EQ(c->scan_interval_ms, 200u);
  ASSERT_EQ(c->ipfix.collectors.size(), 2u);
  EXPECT_EQ(c->ipfix.collectors[0].family, AF_INET);
  EXPECT_EQ(c->ipfix.collectors[0].port, 4739);
  EXPECT_EQ(c->ipfix.collectors[0].addr[0], 127);
  EXPECT_EQ(c->ipfix.collectors[1].family, AF_INET6);
  EXPECT_EQ(c->ipfix.collectors[1].addr[15], 1);
  EXPECT_EQ(c->ipfix.collectors[1].port, 9995);
  EXPECT_EQ(c->ipfix.observation_domain, 7u);
}

struct BadCase {
  const char* config;
  const char* error_prefix;
};

class EfmConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(EfmConfigErrors, NamesTheField) {
  auto c = ParseFlowmonConfig(json::parse(GetParam().config), "/vnfs/2/config");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(c.status().message().rfind(GetParam().error_prefix, 0), 0u) << c.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EfmConfigErrors,
    ::testing::Values(
        BadCase{R"({"max_flow": 10})", "/vnfs/2/config/max_flow: unknown member"},
        BadCase{R"({"max_flows": 0})", "/vnfs/2/config/max_flows: 0 is out of range [1, 67108864]"},
        BadCase{R"({"max_flows": -5})", "/vnfs/2/config/max_flows: must not be negative"},
        BadCase{R"({"max_flows": 1e3})", "/vnfs/2/config/max_flows: expected integer, got number"},
        BadCase{R"({"max_flows": 134217728})",
                "/vnfs/2/config/max_flows: 134217728 is out of range"},
        BadCase{R"({"idle_timeout_s": "15"})",
                "/vnfs/2/config/idle_timeout_s: expected integer, got string"},
        BadCase{R"({"scan_interval_ms": 10})",
                "/vnfs/2/config/scan_interval_ms: 10 is out of range [100, 60000]"},
        BadCase{R"({"ipfix": []})", "/vnfs/2/config/ipfix: expected object, got array"},
        BadCase{R"({"ipfix": {"collectors": "127.0.0.1:4739"}})",
                "/vnfs/2/config/ipfix/collectors: expected array, got string"},
        BadCase{R"({"ipfix": {"collectors": ["127.0.0.1:4739", "localhost:4739"]}})",
                "/vnfs/2/config/ipfix/collectors/1: \"localhost\" is not a numeric IPv4"},
        BadCase{R"({"ipfix": {"collectors": ["127.0.0.1"]}})",
                "/vnfs/2/config/ipfix/collectors/0: "},
        BadCase{R"({"ipfix": {"collectors": ["127.0.0.1:0"]}})",
                "/vnfs/2/config/ipfix/collectors/0: \"0\" is not a port"},
        BadCase{R"({"ipfix": {"collectors": ["::1:4739"]}})",
                "/vnfs/2/config/ipfix/collectors/0: "},
        BadCase{R"({"ipfix": {"collectors": ["[::1]:4739", "[::1]:4739"]}})",
                "/vnfs/2/config/ipfix/collectors/1: duplicate collector"},
        BadCase{R"({"ipfix": {"template_refresh_s": 0}})",
                "/vnfs/2/config/ipfix/template_refresh_s: 0 is out of range"},
        BadCase{R"({"ipfix": {"observation_domain": 4294967296}})",
                "/vnfs/2/config/ipfix/observation_domain: 4294967296 is out of range"},
        BadCase{R"({"ipfix": {"exporters": []}})",
                "/vnfs/2/config/ipfix/exporters: unknown member"}));

// A flow whose packets stop always reaches its active timeout before it
// could idle out when idle_timeout_s >= active_timeout_s: its last record
// would say activeTimeout and no record would ever end it. Refused, naming
// both members (the default of the one not given counts).
TEST(EfmConfig, IdleTimeoutMustBeBelowActiveTimeout) {
  for (const char* config : {R"({"idle_timeout_s": 120, "active_timeout_s": 60})",
                             R"({"idle_timeout_s": 60, "active_timeout_s": 60})",
                             R"({"idle_timeout_s": 120})", R"({"active_timeout_s": 10})"}) {
    auto c = ParseFlowmonConfig(json::parse(config), "/vnfs/1/config");
    ASSERT_FALSE(c.ok()) << config << " was accepted";
    EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
    const std::string& m = c.status().message();
    EXPECT_EQ(m.rfind("/vnfs/1/config/idle_timeout_s: ", 0), 0u) << m;
    EXPECT_NE(m.find("/vnfs/1/config/active_timeout_s"), std::string::npos) << m;
  }
  auto ok = ParseFlowmonConfig(json::parse(R"({"idle_timeout_s": 59, "active_timeout_s": 60})"),
                               "/vnfs/1/config");
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST(EfmEndpoint, ParsesBothFamilies) {
  auto v4 = ParseEndpoint("192.0.2.10:2055");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->addr[0], 192);
  EXPECT_EQ(v4->addr[3], 10);
  EXPECT_EQ(v4->port, 2055);
  auto v6 = ParseEndpoint("[2001:db8::7]:4739");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(v6->addr[0], 0x20);
  EXPECT_EQ(v6->addr[15], 7);
  EXPECT_FALSE(ParseEndpoint("[2001:db8::7]4739").ok());
  EXPECT_FALSE(ParseEndpoint("192.0.2.10:65536").ok());
  EXPECT_FALSE(ParseEndpoint("192.0.2.10:12ab").ok());
}

}  // namespace
}  // namespace sfc::efm
