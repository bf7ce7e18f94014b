#include "efw/requests.h"

#include <string>

namespace sfc::efw {

using nlohmann::json;

json RuleToJson(const v1::FirewallRule& m) {
  json j = json::object();
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) j[key] = v;
  };
  put("id", m.id());
  put("src", m.src());
  put("dst", m.dst());
  put("proto", m.proto());
  put("sport", m.sport());
  put("dport", m.dport());
  put("tcp_flags", m.tcp_flags());
  if (m.has_icmp_type()) j["icmp_type"] = m.icmp_type();
  if (m.state_size()) j["state"] = std::vector<std::string>(m.state().begin(), m.state().end());
  put("iif", m.iif());
  put("app", m.app());
  put("app_category", m.app_category());
  put("action", m.action());
  return j;
}

void RuleToProto(const Rule& r, v1::FirewallRule* m) {
  json j = r.ToJson();
  m->set_id(r.id);
  if (j.contains("src")) m->set_src(j["src"].get<std::string>());
  if (j.contains("dst")) m->set_dst(j["dst"].get<std::string>());
  if (j.contains("proto")) m->set_proto(j["proto"].get<std::string>());
  for (const char* f : {"sport", "dport"}) {
    if (!j.contains(f)) continue;
    std::string v = j[f].is_string() ? j[f].get<std::string>() : std::to_string(j[f].get<int>());
    std::string_view(f) == "sport" ? m->set_sport(v) : m->set_dport(v);
  }
  if (r.tcp_flags)
    m->set_tcp_flags(j["tcp_flags"].is_string() ? j["tcp_flags"].get<std::string>()
                                                : "/" + j["tcp_flags"]["mask"].get<std::string>());
  if (r.icmp_type) m->set_icmp_type(*r.icmp_type);
  if (j.contains("state"))
    for (const auto& s : j["state"]) m->add_state(s.get<std::string>());
  m->set_iif(r.iif);
  if (j.contains("app")) m->set_app(j["app"].get<std::string>());
  if (j.contains("app_category")) m->set_app_category(j["app_category"].get<std::string>());
  m->set_action(std::string(ToString(r.action)));
}

Result<std::vector<Rule>> ParseRuleMessages(
    const google::protobuf::RepeatedPtrField<v1::FirewallRule>& msgs) {
  std::vector<Rule> rules;
  rules.reserve(msgs.size());
  for (int i = 0; i < msgs.size(); ++i) {
    SFC_ASSIGN_OR_RETURN(Rule r, ParseRule(RuleToJson(msgs[i]), "rules/" + std::to_string(i)));
    rules.push_back(std::move(r));
  }
  return rules;
}

}  // namespace sfc::efw
