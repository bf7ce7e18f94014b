// Chain file parsing: every valid shape, and every bad input with the JSON
// pointer and reason its error must name.
#include <gtest/gtest.h>

#include "engine/chain_spec.h"

namespace sfc {
namespace {

// Two VNF types with just enough validation to see it wired in.
class FakeModule : public VnfModule {
 public:
  explicit FakeModule(std::string type) : type_(std::move(type)) {}
  std::string_view type() const override { return type_; }
  Status Validate(const nlohmann::json& config, const std::string& path) const override {
    if (config.contains("bad")) return InvalidArgument(path + "/bad: rejected by module");
    return Status::Ok();
  }
  Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo&,
                                          const nlohmann::json&) const override {
    return Internal("not in unit tests");
  }

 private:
  std::string type_;
};

class ChainSpecTest : public ::testing::Test {
 protected:
  ChainSpecTest() {
    registry_.Add(std::make_unique<FakeModule>("noop"));
    registry_.Add(std::make_unique<FakeModule>("firewall"));
  }
  Result<ChainSpec> Parse(const std::string& text) { return ParseChainSpecText(text, registry_); }
  // The error of parsing `text`, which must fail.
  std::string Error(const std::string& text) {
    auto r = Parse(text);
    EXPECT_FALSE(r.ok()) << "accepted: " << text;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    }
    return r.ok() ? "" : r.status().message();
  }
  VnfRegistry registry_;
};

TEST_F(ChainSpecTest, ParsesFullSpec) {
  auto r = Parse(R"({
    "name": "web", "description": "demo",
    "interfaces": [{"name": "eth1", "mode": "generic"}, "eth2"],
    "vnfs": [{"name": "fw", "type": "firewall", "config": {"default": "drop"}},
             {"name": "n", "type": "noop"}],
    "egress": {"action": "redirect", "port": "eth3"},
    "fail_policy": "pass", "timing": true })");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ChainSpec& s = *r;
  EXPECT_EQ(s.name, "web");
  ASSERT_EQ(s.interfaces.size(), 2u);
  EXPECT_EQ(s.interfaces[0].mode, XdpMode::kGeneric);
  EXPECT_EQ(s.interfaces[1].name, "eth2");
  EXPECT_EQ(s.interfaces[1].mode, XdpMode::kNative);
  ASSERT_EQ(s.vnfs.size(), 2u);
  EXPECT_EQ(s.vnfs[0].config["default"], "drop");
  EXPECT_EQ(s.egress.action, EgressAction::kRedirect);
  EXPECT_EQ(s.egress.port, "eth3");
  EXPECT_EQ(s.fail_policy, FailPolicy::kPass);
  EXPECT_TRUE(s.timing);
}

TEST_F(ChainSpecTest, DefaultsAndRoundTrip) {
  auto r = Parse(R"({"name": "a", "interfaces": ["eth0"]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->egress.action, EgressAction::kPass);
  EXPECT_EQ(r->fail_policy, FailPolicy::kDrop);
  EXPECT_TRUE(r->vnfs.empty());
  // The normalized form parses back to the same spec.
  auto again = ParseChainSpec(r->ToJson(), registry_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *r);
}

TEST_F(ChainSpecTest, RejectsNonJson) {
  EXPECT_NE(Error("{\"name\": \"a\",").find("not valid JSON"), std::string::npos);
  EXPECT_NE(Error("").find("not valid JSON"), std::string::npos);
  EXPECT_EQ(Error("[1, 2]"), "/: expected object, got array");
  // A number no double holds: nlohmann throws out_of_range, not parse_error.
  EXPECT_NE(Error("{\"name\": 1e999}").find("not valid JSON"), std::string::npos);
}

// Each bad input, and the start of the message that must name it.
struct BadCase {
  const char* what;
  const char* json;
  const char* error_prefix;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.what; }

class BadInput : public ChainSpecTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(BadInput, IsRejectedNamingTheField) {
  const BadCase& c = GetParam();
  std::string err = Error(c.json);
  EXPECT_EQ(err.rfind(c.error_prefix, 0), 0u) << c.what << ": got \"" << err << "\"";
}

std::string ManyVnfs(int n) {
  std::string v;
  for (int i = 0; i < n; ++i)
    v += (i ? "," : "") + std::string(R"({"name": "v)") + std::to_string(i) +
         R"(", "type": "noop"})";
  return R"({"name": "a", "interfaces": ["eth0"], "vnfs": [)" + v + "]}";
}
const std::string kTooMany = ManyVnfs(31);

INSTANTIATE_TEST_SUITE_P(
    ChainSpec, BadInput,
    ::testing::Values(
        BadCase{"missing name", R"({"interfaces": ["eth0"]})", "/name: required"},
        BadCase{"name wrong type", R"({"name": 5, "interfaces": ["eth0"]})",
                "/name: expected string, got integer"},
        BadCase{"name with slash", R"({"name": "a/b", "interfaces": ["eth0"]})",
                "/name: \"a/b\" is not a safe name"},
        BadCase{"name dot-dot", R"({"name": "..", "interfaces": ["eth0"]})",
                "/name: \"..\" is not a safe name"},
        BadCase{"name too long",
                R"({"name": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "interfaces": ["eth0"]})",
                "/name:"},
        BadCase{"unknown member", R"({"name": "a", "interfaces": ["eth0"], "vnf": []})",
                "/vnf: unknown member"},
        BadCase{"no interfaces", R"({"name": "a"})", "/interfaces: required"},
        BadCase{"empty interfaces", R"({"name": "a", "interfaces": []})",
                "/interfaces: at least one"},
        BadCase{"interfaces not array", R"({"name": "a", "interfaces": "eth0"})",
                "/interfaces: expected array, got string"},
        BadCase{"interface bad mode",
                R"({"name": "a", "interfaces": [{"name": "eth0", "mode": "fast"}]})",
                "/interfaces/0/mode: \"fast\" is not one of native, generic"},
        BadCase{"interface bad name", R"({"name": "a", "interfaces": ["eth0", "../x"]})",
                "/interfaces/1: \"../x\" is not a valid interface name"},
        BadCase{"interface twice", R"({"name": "a", "interfaces": ["eth0", {"name": "eth0"}]})",
                "/interfaces/1: interface \"eth0\" is listed twice"},
        BadCase{"vnfs not array", R"({"name": "a", "interfaces": ["eth0"], "vnfs": {}})",
                "/vnfs: expected array, got object"},
        BadCase{
            "vnf unknown type",
            R"({"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "x", "type": "noop"}, {"name": "y", "type": "nat"}]})",
            "/vnfs/1/type: unknown VNF type \"nat\" (known: firewall, noop)"},
        BadCase{"vnf missing type",
                R"({"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "x"}]})",
                "/vnfs/0/type: required"},
        BadCase{
            "vnf duplicate name",
            R"({"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "x", "type": "noop"}, {"name": "x", "type": "firewall"}]})",
            "/vnfs/1/name: duplicate VNF name \"x\""},
        BadCase{
            "vnf unsafe name",
            R"({"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "a b", "type": "noop"}]})",
            "/vnfs/0/name: \"a b\" is not a safe name"},
        BadCase{
            "vnf reserved name",
            R"({"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "progs", "type": "noop"}]})",
            "/vnfs/0/name: \"progs\" is reserved"},
        BadCase{
            "vnf named like a monitor pin",
            R"({"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "events", "type": "noop"}]})",
            "/vnfs/0/name: \"events\" is reserved"},
        BadCase{
            "vnf config not object",
            R"({"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "x", "type": "noop", "config": []}]})",
            "/vnfs/0/config: expected object, got array"},
        BadCase{
            "vnf config rejected by module",
            R"({"name": "a", "interfaces": ["eth0"], "vnfs": [{"name": "x", "type": "noop", "config": {"bad": 1}}]})",
            "/vnfs/0/config/bad: rejected by module"},
        BadCase{"too many vnfs", kTooMany.c_str(), "/vnfs: 31 VNFs, at most 30"},
        BadCase{"egress bad action",
                R"({"name": "a", "interfaces": ["eth0"], "egress": {"action": "nat"}})",
                "/egress/action: \"nat\" is not one of pass, tx, redirect, fib"},
        BadCase{"redirect without port",
                R"({"name": "a", "interfaces": ["eth0"], "egress": {"action": "redirect"}})",
                "/egress/port: required when action is \"redirect\""},
        BadCase{
            "port without redirect",
            R"({"name": "a", "interfaces": ["eth0"], "egress": {"action": "fib", "port": "eth1"}})",
            "/egress/port: only valid when action is \"redirect\""},
        BadCase{"bad fail policy",
                R"({"name": "a", "interfaces": ["eth0"], "fail_policy": "ignore"})",
                "/fail_policy: \"ignore\" is not one of drop, pass"},
        BadCase{"timing not bool", R"({"name": "a", "interfaces": ["eth0"], "timing": 1})",
                "/timing: expected boolean, got integer"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name = info.param.what;
      for (char& ch : name)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

TEST(SafeName, AcceptsAndRejects) {
  EXPECT_TRUE(IsSafeName("web-1_a"));
  EXPECT_TRUE(IsSafeName("0"));
  EXPECT_FALSE(IsSafeName(""));
  EXPECT_FALSE(IsSafeName("_gen1"));  // the engine's staging prefix
  EXPECT_FALSE(IsSafeName("-x"));
  EXPECT_FALSE(IsSafeName("a.b"));  // bpffs refuses dots
  EXPECT_FALSE(IsSafeName("a/b"));
  EXPECT_FALSE(IsSafeName(std::string(33, 'a')));
}

}  // namespace
}  // namespace sfc
