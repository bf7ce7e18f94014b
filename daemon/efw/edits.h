// Rule-list edits behind the FirewallService calls. Pure: they change a
// FirewallConfig value; the service then installs it and stores it.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "efw/config.h"

namespace sfc::efw {

// Inserts `rules` before the rule with id `before` (empty: appends). Rules
// without an id get a fresh "rule-<n>" one; ids must stay unique and the
// total within max_rules. On error `cfg` is unchanged.
Status AddRules(FirewallConfig& cfg, std::vector<Rule> rules, const std::string& before);

// Removes the rules with these ids; NOT_FOUND names the first unknown id and
// leaves `cfg` unchanged.
Status DeleteRules(FirewallConfig& cfg, const std::vector<std::string>& ids);

// Replaces the whole list (ids assigned as in a chain file).
Status ReplaceRules(FirewallConfig& cfg, std::vector<Rule> rules);

}  // namespace sfc::efw
