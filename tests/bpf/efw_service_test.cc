// sfc.v1.FirewallService against a loaded chain: each call changes what
// packets see at once, is stored in the chain's spec, and a refused call
// (bad field, unknown id, wrong VNF type) changes nothing.
#include <gtest/gtest.h>
#include <linux/bpf.h>

#include "dpi/app_catalog.h"
#include "efw/service.h"
#include "sfc/v1/firewall.grpc.pb.h"
#include "support/app_stamp.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

class EfwService : public testing::Test {
 protected:
  void SetUp() override {
    auto c = LoadedChain::Load(R"({"name": "svc", "interfaces": ["lo"], "vnfs": [
        {"name": "n", "type": "noop"},
        {"name": "fw", "type": "firewall", "config": {"default": "drop", "rules": [
            {"id": "web", "proto": "tcp", "dport": 80, "action": "allow"}]}}]})");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    chain_ = std::move(c).value();
    owner_ = efw::MakeFirewallService(chain_->engine());
    svc_ = dynamic_cast<v1::FirewallService::Service*>(owner_.get());
    ASSERT_NE(svc_, nullptr);
  }

  int Verdict(uint16_t dport) {
    auto run =
        chain_->Run(PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Tcp(1000, dport, kTcpSyn).Build());
    EXPECT_TRUE(run.ok());
    return run.ok() ? run->action : -1;
  }

  nlohmann::json SavedConfig() {
    auto info = chain_->engine().Get("svc");
    EXPECT_TRUE(info.ok());
    return info.ok() ? info->spec.vnfs[1].config : nlohmann::json();
  }

  std::unique_ptr<LoadedChain> chain_;
  std::unique_ptr<grpc::Service> owner_;
  v1::FirewallService::Service* svc_ = nullptr;
};

v1::FirewallRule Rule(const std::string& id, const std::string& dport, const std::string& action) {
  v1::FirewallRule r;
  r.set_id(id);
  r.set_proto("tcp");
  r.set_dport(dport);
  r.set_action(action);
  return r;
}

TEST_F(EfwService, AddDeleteReplaceSetDefault) {
  EXPECT_EQ(Verdict(80), XDP_PASS);
  EXPECT_EQ(Verdict(22), XDP_DROP);

  grpc::ServerContext ctx;
  v1::AddRulesRequest add;
  add.set_chain("svc");
  add.set_vnf("fw");
  *add.add_rules() = Rule("ssh", "22", "allow");
  *add.add_rules() = Rule("", "80", "reject");
  add.set_before("web");
  v1::RulesChanged changed;
  auto st = svc_->AddRules(&ctx, &add, &changed);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(changed.rule_count(), 3u);
  EXPECT_EQ(Verdict(22), XDP_PASS);
  EXPECT_EQ(Verdict(80), XDP_TX);  // the inserted reject now comes first
  ASSERT_EQ(SavedConfig()["rules"].size(), 3u);
  EXPECT_EQ(SavedConfig()["rules"][0]["id"], "ssh");

  v1::ListRulesRequest list;
  list.set_chain("svc");
  list.set_vnf("fw");
  v1::ListRulesResponse listed;
  ASSERT_TRUE(svc_->ListRules(&ctx, &list, &listed).ok());
  ASSERT_EQ(listed.rules_size(), 3);
  EXPECT_EQ(listed.default_action(), "drop");
  EXPECT_EQ(listed.rules(0).rule().id(), "ssh");
  EXPECT_EQ(listed.rules(0).packets(), 1u);
  EXPECT_EQ(listed.rules(1).packets(), 1u);
  EXPECT_EQ(listed.rules(2).rule().dport(), "80");
  EXPECT_EQ(listed.rules(2).packets(), 1u);  // the first port-80 packet, before the edit
  EXPECT_EQ(listed.total(), 3u);
  // A window of the list.
  list.set_offset(1);
  list.set_limit(1);
  v1::ListRulesResponse page;
  ASSERT_TRUE(svc_->ListRules(&ctx, &list, &page).ok());
  ASSERT_EQ(page.rules_size(), 1);
  EXPECT_EQ(page.rules(0).index(), 1u);
  EXPECT_EQ(page.rules(0).rule().id(), listed.rules(1).rule().id());
  EXPECT_EQ(page.total(), 3u);

  v1::DeleteRulesRequest del;
  del.set_chain("svc");
  del.set_vnf("fw");
  del.add_ids(listed.rules(1).rule().id());
  ASSERT_TRUE(svc_->DeleteRules(&ctx, &del, &changed).ok());
  EXPECT_EQ(Verdict(80), XDP_PASS);

  v1::SetDefaultRequest def;
  def.set_chain("svc");
  def.set_vnf("fw");
  def.set_action("allow");
  ASSERT_TRUE(svc_->SetDefault(&ctx, &def, &changed).ok());
  EXPECT_EQ(Verdict(5555), XDP_PASS);
  EXPECT_EQ(SavedConfig()["default"], "allow");

  v1::ReplaceRulesRequest rep;
  rep.set_chain("svc");
  rep.set_vnf("fw");
  *rep.add_rules() = Rule("only", "1-1000", "drop");
  rep.set_default_action("allow");
  ASSERT_TRUE(svc_->ReplaceRules(&ctx, &rep, &changed).ok());
  EXPECT_EQ(Verdict(22), XDP_DROP);
  EXPECT_EQ(Verdict(5555), XDP_PASS);
  EXPECT_EQ(SavedConfig()["rules"].size(), 1u);
}

TEST_F(EfwService, RefusedCallsChangeNothing) {
  grpc::ServerContext ctx;
  v1::RulesChanged changed;
  const auto before = SavedConfig();

  v1::AddRulesRequest add;
  add.set_chain("svc");
  add.set_vnf("fw");
  *add.add_rules() = Rule("ok", "22", "allow");
  *add.add_rules() = Rule("bad", "90-80", "allow");
  auto st = svc_->AddRules(&ctx, &add, &changed);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("rules/1/dport"), std::string::npos) << st.error_message();
  EXPECT_EQ(Verdict(22), XDP_DROP);

  v1::DeleteRulesRequest del;
  del.set_chain("svc");
  del.set_vnf("fw");
  del.add_ids("nosuch");
  EXPECT_EQ(svc_->DeleteRules(&ctx, &del, &changed).error_code(), grpc::StatusCode::NOT_FOUND);

  v1::SetDefaultRequest def;
  def.set_chain("svc");
  def.set_vnf("n");  // a noop, not a firewall
  def.set_action("allow");
  EXPECT_EQ(svc_->SetDefault(&ctx, &def, &changed).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  def.set_vnf("nosuch");
  EXPECT_EQ(svc_->SetDefault(&ctx, &def, &changed).error_code(), grpc::StatusCode::NOT_FOUND);
  def.set_vnf("fw");
  def.set_action("reject");
  EXPECT_EQ(svc_->SetDefault(&ctx, &def, &changed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(SavedConfig(), before);
  EXPECT_EQ(Verdict(80), XDP_PASS);
  EXPECT_EQ(Verdict(22), XDP_DROP);
}

// Application rules through the API: names resolve (case-insensitive) and
// come back in nDPI's spelling, the saved spec keeps them, labelled packets
// meet them, and an unknown name is refused naming the field.
TEST(EfwServiceApp, AppRulesAddListAndMatch) {
  auto c = LoadedChain::Load(R"({"name": "svcapp", "interfaces": ["lo"], "vnfs": [
      {"name": "dpi", "type": "app_stamp"},
      {"name": "fw", "type": "firewall", "config": {"default": "allow"}}]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto owner = efw::MakeFirewallService((*c)->engine());
  auto* svc = dynamic_cast<v1::FirewallService::Service*>(owner.get());
  ASSERT_NE(svc, nullptr);
  grpc::ServerContext ctx;
  v1::RulesChanged changed;

  v1::AddRulesRequest add;
  add.set_chain("svcapp");
  add.set_vnf("fw");
  v1::FirewallRule* r = add.add_rules();
  r->set_id("no-bt");
  r->set_app("bittorrent");
  r->set_action("drop");
  r = add.add_rules();
  r->set_id("no-games");
  r->set_app_category("game");
  r->set_action("drop");
  auto st = svc->AddRules(&ctx, &add, &changed);
  ASSERT_TRUE(st.ok()) << st.error_message();

  v1::ListRulesRequest list;
  list.set_chain("svcapp");
  list.set_vnf("fw");
  v1::ListRulesResponse listed;
  ASSERT_TRUE(svc->ListRules(&ctx, &list, &listed).ok());
  ASSERT_EQ(listed.rules_size(), 2);
  EXPECT_EQ(listed.rules(0).rule().app(), "BitTorrent");
  EXPECT_EQ(listed.rules(1).rule().app_category(),
            dpi::AppCatalog::Get().CategoryName(*dpi::AppCatalog::Get().CategoryId("Game")));
  auto info = (*c)->engine().Get("svcapp");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->spec.vnfs[1].config["rules"][0]["app"], "BitTorrent");

  const Bytes pkt = PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(6881, 6881).Build();
  ASSERT_TRUE(SetStampedApp(**c, "dpi", *dpi::AppCatalog::Get().AppId("BitTorrent"), 0).ok());
  auto run = (*c)->Run(pkt);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_DROP);
  ASSERT_TRUE(SetStampedApp(**c, "dpi", *dpi::AppCatalog::Get().AppId("DNS"), 0).ok());
  run = (*c)->Run(PacketBuilder().Ipv4("10.0.0.1", "10.0.0.2").Udp(5353, 53).Build());
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->action, XDP_PASS);

  v1::AddRulesRequest bad;
  bad.set_chain("svcapp");
  bad.set_vnf("fw");
  r = bad.add_rules();
  r->set_app("Foo");
  r->set_action("drop");
  st = svc->AddRules(&ctx, &bad, &changed);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("rules/0/app: unknown application \"Foo\""), std::string::npos)
      << st.error_message();
}

}  // namespace
}  // namespace sfc::test
