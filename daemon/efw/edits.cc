#include "efw/edits.h"

#include <algorithm>
#include <set>

namespace sfc::efw {

Status AddRules(FirewallConfig& cfg, std::vector<Rule> rules, const std::string& before) {
  std::set<std::string, std::less<>> ids;
  for (const auto& r : cfg.rules) ids.insert(r.id);
  size_t pos = cfg.rules.size();
  if (!before.empty()) {
    auto it = std::find_if(cfg.rules.begin(), cfg.rules.end(),
                           [&](const Rule& r) { return r.id == before; });
    if (it == cfg.rules.end()) return NotFound("before: no rule with id \"" + before + "\"");
    pos = it - cfg.rules.begin();
  }
  size_t n = cfg.rules.size();
  for (size_t i = 0; i < rules.size(); ++i) {
    auto& r = rules[i];
    if (r.id.empty()) {
      do r.id = "rule-" + std::to_string(++n);
      while (ids.count(r.id));
    }
    if (!ids.insert(r.id).second)
      return AlreadyExists("rules/" + std::to_string(i) + "/id: rule id \"" + r.id +
                           "\" already exists");
  }
  if (cfg.rules.size() + rules.size() > cfg.max_rules)
    return FailedPrecondition("rules: " + std::to_string(cfg.rules.size() + rules.size()) +
                              " rules would exceed max_rules " + std::to_string(cfg.max_rules));
  cfg.rules.insert(cfg.rules.begin() + static_cast<std::ptrdiff_t>(pos),
                   std::make_move_iterator(rules.begin()), std::make_move_iterator(rules.end()));
  return Status::Ok();
}

Status DeleteRules(FirewallConfig& cfg, const std::vector<std::string>& ids) {
  std::set<std::string, std::less<>> doomed(ids.begin(), ids.end());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (std::none_of(cfg.rules.begin(), cfg.rules.end(),
                     [&](const Rule& r) { return r.id == ids[i]; }))
      return NotFound("ids/" + std::to_string(i) + ": no rule with id \"" + ids[i] + "\"");
  }
  std::erase_if(cfg.rules, [&](const Rule& r) { return doomed.count(r.id) > 0; });
  return Status::Ok();
}

Status ReplaceRules(FirewallConfig& cfg, std::vector<Rule> rules) {
  if (rules.size() > cfg.max_rules)
    return FailedPrecondition("rules: " + std::to_string(rules.size()) +
                              " rules exceed max_rules " + std::to_string(cfg.max_rules));
  SFC_RETURN_IF_ERROR(AssignRuleIds(rules, "rules"));
  cfg.rules = std::move(rules);
  return Status::Ok();
}

}  // namespace sfc::efw
