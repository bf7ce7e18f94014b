#include <gtest/gtest.h>

#include <fstream>

#include "dpi/app_catalog.h"
#include "efw/config.h"
#include "efw/edits.h"

namespace sfc::efw {
namespace {

using nlohmann::json;

Result<FirewallConfig> Parse(const std::string& text) {
  return ParseFirewallConfig(json::parse(text), "/vnfs/0/config");
}

TEST(EfwConfig, DefaultsWhenEmpty) {
  auto c = Parse("{}");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->default_action, Action::kDrop);
  EXPECT_EQ(c->max_rules, 65536u);
  EXPECT_EQ(c->conntrack.max_entries, 65536u);
  EXPECT_TRUE(c->rules.empty());
}

TEST(EfwConfig, FullRule) {
  auto c = Parse(R"({"default": "allow", "max_rules": 100,
      "conntrack": {"max_entries": 1024, "tcp_established_timeout_s": 600, "udp_timeout_s": 20},
      "rules": [{"id": "web", "src": "10.0.0.0/8", "dst": "192.168.1.1", "proto": "tcp",
                 "sport": "1024-65535", "dport": 80, "tcp_flags": "syn/syn,ack",
                 "state": ["new", "established"], "iif": "eth0", "action": "allow"}]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->default_action, Action::kAllow);
  EXPECT_EQ(c->max_rules, 100u);
  EXPECT_EQ(c->conntrack.max_entries, 1024u);
  EXPECT_EQ(c->conntrack.tcp_established_timeout_s, 600u);
  EXPECT_EQ(c->conntrack.udp_timeout_s, 20u);
  ASSERT_EQ(c->rules.size(), 1u);
  const Rule& r = c->rules[0];
  EXPECT_EQ(r.id, "web");
  EXPECT_EQ(r.src->ToString(), "10.0.0.0/8");
  EXPECT_EQ(r.dst->ToString(), "192.168.1.1/32");
  EXPECT_EQ(r.proto, Proto::kTcp);
  EXPECT_EQ(r.sport, (PortRange{1024, 65535}));
  EXPECT_EQ(r.dport, (PortRange{80, 80}));
  EXPECT_EQ(r.tcp_flags, (TcpFlags{0x12, 0x02}));
  EXPECT_EQ(r.states, kStateNew | kStateEstablished);
  EXPECT_EQ(r.iif, "eth0");
  EXPECT_EQ(r.action, Action::kAllow);
}

TEST(EfwConfig, Ipv6AndFlagForms) {
  auto c = Parse(R"({"rules": [
      {"src": "2001:db8::/32", "proto": "icmpv6", "icmp_type": 128, "action": "allow"},
      {"proto": "tcp", "tcp_flags": {"mask": "syn,rst", "value": "syn"}, "action": "drop"},
      {"proto": "tcp", "tcp_flags": {"mask": 18, "value": 2}, "action": "drop"},
      {"proto": "tcp", "tcp_flags": "syn,ack", "action": "reject"},
      {"proto": "tcp", "tcp_flags": "/syn,ack", "action": "reject"},
      {"state": "invalid", "action": "drop"}]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->rules[0].src->family, 6);
  EXPECT_EQ(c->rules[0].src->len, 32);
  EXPECT_EQ(*c->rules[0].icmp_type, 128);
  EXPECT_EQ(c->rules[1].tcp_flags, (TcpFlags{0x06, 0x02}));
  EXPECT_EQ(c->rules[2].tcp_flags, (TcpFlags{0x12, 0x02}));
  EXPECT_EQ(c->rules[3].tcp_flags, (TcpFlags{0x12, 0x12}));
  EXPECT_EQ(c->rules[4].tcp_flags, (TcpFlags{0x12, 0x00}));
  EXPECT_EQ(c->rules[5].states, kStateInvalid);
  // Auto ids follow the position.
  EXPECT_EQ(c->rules[0].id, "rule-1");
  EXPECT_EQ(c->rules[5].id, "rule-6");
}

TEST(EfwConfig, NormalizedJsonRoundTrips) {
  auto c = Parse(R"({"default": "allow", "rules": [
      {"id": "a", "src": "10.1.0.0/16", "proto": "udp", "dport": "53", "action": "allow"},
      {"proto": "tcp", "tcp_flags": "/syn,ack", "sport": "1-2", "state": ["related"], "action": "reject"},
      {"dst": "fd00::1", "proto": "icmpv6", "icmp_type": 1, "iif": "lo", "action": "drop"}]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto again = ParseFirewallConfig(c->ToJson(), "/x");
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << c->ToJson().dump();
  EXPECT_EQ(again->rules, c->rules);
  EXPECT_EQ(again->default_action, Action::kAllow);
  EXPECT_EQ(again->ToJson(), c->ToJson());
}

struct BadCase {
  const char* config;
  const char* path;      // expected JSON pointer at the start of the message
  const char* fragment;  // expected somewhere in the message
};

class EfwBadConfig : public testing::TestWithParam<BadCase> {};

TEST_P(EfwBadConfig, RejectedWithPointer) {
  const BadCase& c = GetParam();
  auto r = Parse(c.config);
  ASSERT_FALSE(r.ok()) << c.config;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  const std::string& m = r.status().message();
  EXPECT_EQ(m.rfind(std::string(c.path) + ": ", 0), 0u) << m;
  EXPECT_NE(m.find(c.fragment), std::string::npos) << m;
}

INSTANTIATE_TEST_SUITE_P(
    AllInputs, EfwBadConfig,
    testing::Values(
        BadCase{R"([])", "/vnfs/0/config", "object"},
        BadCase{R"({"defaults": "drop"})", "/vnfs/0/config/defaults", "unknown field"},
        BadCase{R"({"default": "reject"})", "/vnfs/0/config/default", "allow"},
        BadCase{R"({"max_rules": 0})", "/vnfs/0/config/max_rules", "out of range"},
        BadCase{R"({"max_rules": "10"})", "/vnfs/0/config/max_rules", "integer"},
        BadCase{R"({"conntrack": 5})", "/vnfs/0/config/conntrack", "object"},
        BadCase{R"({"conntrack": {"size": 5}})", "/vnfs/0/config/conntrack/size", "unknown field"},
        BadCase{R"({"conntrack": {"max_entries": -1}})", "/vnfs/0/config/conntrack/max_entries",
                "negative"},
        BadCase{R"({"conntrack": {"udp_timeout_s": 0}})", "/vnfs/0/config/conntrack/udp_timeout_s",
                "out of range"},
        BadCase{R"({"rules": {}})", "/vnfs/0/config/rules", "array"},
        BadCase{R"({"max_rules": 1, "rules": [{"action": "drop"}, {"action": "drop"}]})",
                "/vnfs/0/config/rules", "exceed max_rules"},
        BadCase{R"({"rules": [5]})", "/vnfs/0/config/rules/0", "object"},
        BadCase{R"({"rules": [{"action": "drop", "port": 80}]})", "/vnfs/0/config/rules/0/port",
                "unknown field"},
        BadCase{R"({"rules": [{"src": "10.0.0.0/8"}]})", "/vnfs/0/config/rules/0/action",
                "required"},
        BadCase{R"({"rules": [{"action": "accept"}]})", "/vnfs/0/config/rules/0/action",
                "allow, drop, reject"},
        BadCase{R"({"rules": [{"action": "drop"}, {"action": "drop"}, {"action": "drop"},
                               {"dst": "10.0.0.300/8", "action": "drop"}]})",
                "/vnfs/0/config/rules/3/dst", "not an IPv4 or IPv6 prefix"},
        BadCase{R"({"rules": [{"src": "10.0.0.1/8", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/src", "host bits set (did you mean 10.0.0.0/8?)"},
        BadCase{R"({"rules": [{"src": "10.0.0.0/33", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/src", "prefix length"},
        BadCase{R"({"rules": [{"src": "2001:db8::/129", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/src", "prefix length"},
        BadCase{R"({"rules": [{"src": "10.0.0.0/x", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/src", "prefix length"},
        BadCase{R"({"rules": [{"src": 10, "action": "drop"}]})", "/vnfs/0/config/rules/0/src",
                "CIDR"},
        BadCase{R"({"rules": [{"src": "10.0.0.0/8", "dst": "fd00::/8", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/dst", "IPv6 but src is IPv4"},
        BadCase{R"({"rules": [{"proto": "sctp", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/proto", "one of"},
        BadCase{R"({"rules": [{"src": "fd00::/8", "proto": "icmp", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/proto", "icmpv6"},
        BadCase{R"({"rules": [{"src": "10.0.0.0/8", "proto": "icmpv6", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/proto", "IPv6"},
        BadCase{R"({"rules": [{"dport": 80, "action": "drop"}]})", "/vnfs/0/config/rules/0/dport",
                "ports need"},
        BadCase{R"({"rules": [{"proto": "icmp", "dport": 80, "action": "drop"}]})",
                "/vnfs/0/config/rules/0/dport", "ports need"},
        BadCase{R"({"rules": [{"proto": "tcp", "dport": "90-80", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/dport", "reversed"},
        BadCase{R"({"rules": [{"proto": "tcp", "dport": 65536, "action": "drop"}]})",
                "/vnfs/0/config/rules/0/dport", "out of range"},
        BadCase{R"({"rules": [{"proto": "tcp", "sport": "http", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/sport", "not a port"},
        BadCase{R"({"rules": [{"proto": "udp", "sport": "1-", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/sport", "port range"},
        BadCase{R"({"rules": [{"proto": "udp", "sport": [1], "action": "drop"}]})",
                "/vnfs/0/config/rules/0/sport", "port"},
        BadCase{R"({"rules": [{"proto": "udp", "tcp_flags": "syn", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/tcp_flags", "tcp"},
        BadCase{R"({"rules": [{"proto": "tcp", "tcp_flags": "syn/bogus", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/tcp_flags", "unknown TCP flag \"bogus\""},
        BadCase{R"({"rules": [{"proto": "tcp", "tcp_flags": "syn,ack/syn", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/tcp_flags", "outside the mask"},
        BadCase{R"({"rules": [{"proto": "tcp", "tcp_flags": {"value": "syn"}, "action": "drop"}]})",
                "/vnfs/0/config/rules/0/tcp_flags/mask", "required"},
        BadCase{R"({"rules": [{"proto": "tcp", "tcp_flags": {"mask": 300}, "action": "drop"}]})",
                "/vnfs/0/config/rules/0/tcp_flags/mask", "out of range"},
        BadCase{R"({"rules": [{"proto": "tcp", "tcp_flags": 5, "action": "drop"}]})",
                "/vnfs/0/config/rules/0/tcp_flags", "value/mask"},
        BadCase{R"({"rules": [{"proto": "tcp", "icmp_type": 8, "action": "drop"}]})",
                "/vnfs/0/config/rules/0/icmp_type", "icmp"},
        BadCase{R"({"rules": [{"proto": "icmp", "icmp_type": 256, "action": "drop"}]})",
                "/vnfs/0/config/rules/0/icmp_type", "out of range"},
        BadCase{R"({"rules": [{"state": [], "action": "drop"}]})", "/vnfs/0/config/rules/0/state",
                "non-empty"},
        BadCase{R"({"rules": [{"state": ["new", "closed"], "action": "drop"}]})",
                "/vnfs/0/config/rules/0/state/1", "one of"},
        BadCase{R"({"rules": [{"state": ["new", "new"], "action": "drop"}]})",
                "/vnfs/0/config/rules/0/state/1", "twice"},
        BadCase{R"({"rules": [{"iif": "a/b", "action": "drop"}]})", "/vnfs/0/config/rules/0/iif",
                "not a valid interface"},
        BadCase{R"({"rules": [{"iif": "averyveryverylongname", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/iif", "not a valid interface"},
        BadCase{R"({"rules": [{"id": "", "action": "drop"}]})", "/vnfs/0/config/rules/0/id",
                "1-63"},
        BadCase{R"({"rules": [{"id": "a b", "action": "drop"}]})", "/vnfs/0/config/rules/0/id",
                "letters"},
        BadCase{R"({"rules": [{"id": "x", "action": "drop"}, {"id": "x", "action": "drop"}]})",
                "/vnfs/0/config/rules/1/id", "duplicate"},
        BadCase{R"({"rules": [{"id": "rule-2", "action": "drop"}, {"action": "drop"}]})",
                "/vnfs/0/config/rules/1/id", "duplicate"},
        BadCase{R"({"rules": [{"action": "drop"}, {"action": "drop"}, {"action": "drop"},
                               {"app": "Foo", "action": "drop"}]})",
                "/vnfs/0/config/rules/3/app",
                "unknown application \"Foo\" (sfcctl dpi protocols lists them)"},
        BadCase{R"({"rules": [{"app": 7, "action": "drop"}]})", "/vnfs/0/config/rules/0/app",
                "application name"},
        BadCase{R"({"rules": [{"app_category": "Nonsense", "action": "drop"}]})",
                "/vnfs/0/config/rules/0/app_category", "unknown application category \"Nonsense\""},
        BadCase{R"({"rules": [{"app_category": ["Web"], "action": "drop"}]})",
                "/vnfs/0/config/rules/0/app_category", "category name"}));

// nDPI's names resolve case-insensitively to the catalog's ids, and the
// normalized form (saved spec, ListRules) spells them as nDPI does.
TEST(EfwConfig, AppNamesResolve) {
  const auto& catalog = dpi::AppCatalog::Get();
  auto c = Parse(R"({"rules": [
      {"id": "bt", "app": "bittorrent", "action": "drop"},
      {"id": "games", "app_category": "GAME", "proto": "udp", "action": "drop"},
      {"id": "tls-web", "app": "TLS", "app_category": "Web", "action": "allow"},
      {"id": "unknown", "app": "Unknown", "action": "allow"}]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->rules.size(), 4u);
  EXPECT_EQ(c->rules[0].app, catalog.AppId("BitTorrent"));
  EXPECT_FALSE(c->rules[0].app_category);
  EXPECT_EQ(c->rules[1].app_category, catalog.CategoryId("Game"));
  EXPECT_EQ(c->rules[2].app, catalog.AppId("TLS"));
  EXPECT_EQ(c->rules[2].app_category, catalog.CategoryId("Web"));
  EXPECT_EQ(c->rules[3].app, 0);
  const auto j = c->ToJson();
  EXPECT_EQ(j["rules"][0]["app"], "BitTorrent");
  EXPECT_EQ(j["rules"][1]["app_category"], catalog.CategoryName(*catalog.CategoryId("game")));
  EXPECT_EQ(j["rules"][3]["app"], "Unknown");
  auto again = ParseFirewallConfig(j, "/x");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->rules, c->rules);
}

TEST(EfwPrefix, ContainsAndFormat) {
  auto p = ParsePrefix("10.1.0.0/16");
  auto q = ParsePrefix("10.1.2.0/24");
  auto v6 = ParsePrefix("fd00::/8");
  ASSERT_TRUE(p.ok() && q.ok() && v6.ok());
  EXPECT_TRUE(p->Contains(*q));
  EXPECT_FALSE(q->Contains(*p));
  EXPECT_FALSE(p->Contains(*v6));
  EXPECT_EQ(v6->ToString(), "fd00::/8");
  auto all = ParsePrefix("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains(*q));
}

TEST(EfwEdits, AddDeleteReplace) {
  auto c = Parse(
      R"({"max_rules": 4, "rules": [{"id": "a", "action": "allow"}, {"id": "b", "action": "drop"}]})");
  ASSERT_TRUE(c.ok());
  FirewallConfig cfg = *c;
  Rule x;
  x.action = Action::kReject;
  ASSERT_TRUE(AddRules(cfg, {x}, "b").ok());
  ASSERT_EQ(cfg.rules.size(), 3u);
  EXPECT_EQ(cfg.rules[1].id, "rule-3");
  EXPECT_EQ(cfg.rules[2].id, "b");

  Rule dup;
  dup.id = "a";
  auto st = AddRules(cfg, {dup}, "");
  EXPECT_EQ(st.code(), Code::kAlreadyExists);
  EXPECT_EQ(cfg.rules.size(), 3u);
  EXPECT_EQ(AddRules(cfg, {x}, "nosuch").code(), Code::kNotFound);
  EXPECT_EQ(AddRules(cfg, {x, x}, "").code(), Code::kFailedPrecondition);  // 5 > max_rules
  EXPECT_EQ(cfg.rules.size(), 3u);

  st = DeleteRules(cfg, {"a", "zzz"});
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("ids/1"), std::string::npos) << st.message();
  EXPECT_EQ(cfg.rules.size(), 3u);
  ASSERT_TRUE(DeleteRules(cfg, {"a", "b"}).ok());
  ASSERT_EQ(cfg.rules.size(), 1u);
  EXPECT_EQ(cfg.rules[0].id, "rule-3");

  ASSERT_TRUE(ReplaceRules(cfg, {x, x}).ok());
  EXPECT_EQ(cfg.rules[0].id, "rule-1");
  EXPECT_EQ(cfg.rules[1].id, "rule-2");
  EXPECT_EQ(ReplaceRules(cfg, {x, x, x, x, x}).code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace sfc::efw

namespace sfc::efw {
namespace {

// The shipped example must stay valid.
TEST(EfwConfig, ExampleChainFileIsValid) {
  std::ifstream in(std::string(SFC_SOURCE_DIR) + "/chains/firewall.json");
  ASSERT_TRUE(in.good());
  auto doc = nlohmann::json::parse(in);
  auto cfg = ParseFirewallConfig(doc["vnfs"][0]["config"], "/vnfs/0/config");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->rules.size(), 16u);
  EXPECT_EQ(cfg->rules[4].tcp_flags, (TcpFlags{0x29, 0x29}));
}

}  // namespace
}  // namespace sfc::efw
