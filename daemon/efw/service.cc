#include "efw/service.h"

#include "api/convert.h"
#include "common/log.h"
#include "efw/config.h"
#include "efw/edits.h"
#include "efw/maps.h"
#include "efw/requests.h"
#include "sfc/v1/firewall.grpc.pb.h"

namespace sfc::efw {
namespace {

constexpr std::string_view kType = "firewall";
// Rules per ListRules answer unless the request asks for a window: keeps a
// response of a 1M-rule set under gRPC's message size limit.
constexpr size_t kDefaultListLimit = 10000;

class FirewallServiceImpl final : public v1::FirewallService::Service {
 public:
  explicit FirewallServiceImpl(ChainEngine& engine) : engine_(engine) {}

  grpc::Status AddRules(grpc::ServerContext*, const v1::AddRulesRequest* req,
                        v1::RulesChanged* resp) override {
    auto rules = ParseRuleMessages(req->rules());
    if (!rules.ok()) return api::ToGrpc(rules.status());
    return Edit(req->chain(), req->vnf(), "add", resp, [&](FirewallConfig& cfg) {
      return efw::AddRules(cfg, std::move(rules).value(), req->before());
    });
  }

  grpc::Status DeleteRules(grpc::ServerContext*, const v1::DeleteRulesRequest* req,
                           v1::RulesChanged* resp) override {
    std::vector<std::string> ids(req->ids().begin(), req->ids().end());
    return Edit(req->chain(), req->vnf(), "delete", resp,
                [&](FirewallConfig& cfg) { return efw::DeleteRules(cfg, ids); });
  }

  grpc::Status ReplaceRules(grpc::ServerContext*, const v1::ReplaceRulesRequest* req,
                            v1::RulesChanged* resp) override {
    auto rules = ParseRuleMessages(req->rules());
    if (!rules.ok()) return api::ToGrpc(rules.status());
    Action def = Action::kDrop;
    bool set_default = !req->default_action().empty();
    if (set_default) {
      auto a = ParseDefaultAction(req->default_action(), "default_action");
      if (!a.ok()) return api::ToGrpc(a.status());
      def = *a;
    }
    return Edit(req->chain(), req->vnf(), "replace", resp, [&](FirewallConfig& cfg) {
      if (set_default) cfg.default_action = def;
      return efw::ReplaceRules(cfg, std::move(rules).value());
    });
  }

  grpc::Status SetDefault(grpc::ServerContext*, const v1::SetDefaultRequest* req,
                          v1::RulesChanged* resp) override {
    auto a = ParseDefaultAction(req->action(), "action");
    if (!a.ok()) return api::ToGrpc(a.status());
    return Edit(req->chain(), req->vnf(), "set_default", resp, [&](FirewallConfig& cfg) {
      cfg.default_action = *a;
      return Status::Ok();
    });
  }

  grpc::Status ListRules(grpc::ServerContext*, const v1::ListRulesRequest* req,
                         v1::ListRulesResponse* resp) override {
    Status st = engine_.WithVnf(req->chain(), req->vnf(), kType, [&](VnfRef& ref) -> Status {
      SFC_ASSIGN_OR_RETURN(FirewallConfig cfg, ParseFirewallConfig(ref.config, "config"));
      SFC_ASSIGN_OR_RETURN(FirewallTables tables, FirewallTables::FromPins(ref.info.pin_dir));
      const size_t total = cfg.rules.size();
      const size_t first = std::min<size_t>(req->offset(), total);
      const size_t limit = req->limit() ? req->limit() : kDefaultListLimit;
      const size_t last = std::min(total, first + limit);
      std::vector<Rule> window(cfg.rules.begin() + first, cfg.rules.begin() + last);
      SFC_ASSIGN_OR_RETURN(std::vector<RuleCounters> counters, tables.Counters(window));
      resp->set_default_action(std::string(ToString(cfg.default_action)));
      resp->set_total(static_cast<uint32_t>(total));
      for (size_t i = 0; i < window.size(); ++i) {
        auto* s = resp->add_rules();
        RuleToProto(window[i], s->mutable_rule());
        s->set_index(static_cast<uint32_t>(first + i));
        s->set_packets(counters[i].packets);
        s->set_bytes(counters[i].bytes);
      }
      return Status::Ok();
    });
    return api::ToGrpc(st);
  }

 private:
  // Applies `edit` to the instance's current config, installs the result
  // (inactive set, then the switch) and records it in the saved spec. Any
  // failure before the switch leaves packets on the old rules.
  template <typename Fn>
  grpc::Status Edit(const std::string& chain, const std::string& vnf, const char* op,
                    v1::RulesChanged* resp, Fn&& edit) {
    Status st = engine_.WithVnf(chain, vnf, kType, [&](VnfRef& ref) -> Status {
      SFC_ASSIGN_OR_RETURN(FirewallConfig cfg, ParseFirewallConfig(ref.config, "config"));
      SFC_RETURN_IF_ERROR(edit(cfg));
      SFC_ASSIGN_OR_RETURN(FirewallTables tables, FirewallTables::FromPins(ref.info.pin_dir));
      SFC_ASSIGN_OR_RETURN(InstallStats is, tables.Install(cfg.rules, cfg.default_action));
      SFC_RETURN_IF_ERROR(engine_.StoreVnfConfig(ref, cfg.ToJson()));
      resp->set_rule_count(static_cast<uint32_t>(is.rules));
      resp->set_match_entries(is.match_entries);
      for (const auto& n : is.unresolved_iifs) resp->add_unknown_interfaces(n);
      log::Info("efw.rules_changed", {{"chain", chain},
                                      {"vnf", vnf},
                                      {"op", op},
                                      {"rules", std::to_string(is.rules)},
                                      {"match_entries", std::to_string(is.match_entries)}});
      return Status::Ok();
    });
    return api::ToGrpc(st);
  }

  ChainEngine& engine_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeFirewallService(ChainEngine& engine) {
  return std::make_unique<FirewallServiceImpl>(engine);
}

}  // namespace sfc::efw
