// FirewallService request messages to and from the rule model. Pure (no
// maps, no engine): a rule message goes through the chain-file parser, so
// the API accepts exactly what a chain file does and its errors name the
// request field ("rules/3/dst: ...").
#pragma once

#include <google/protobuf/repeated_ptr_field.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "common/status.h"
#include "efw/config.h"
#include "sfc/v1/firewall.pb.h"

namespace sfc::efw {

// A rule message as chain-file JSON; empty fields are left out.
nlohmann::json RuleToJson(const v1::FirewallRule& m);

// The normalized rule as a message (what ListRules shows).
void RuleToProto(const Rule& r, v1::FirewallRule* m);

// Parses and validates every rule of a request; the first bad one fails.
Result<std::vector<Rule>> ParseRuleMessages(
    const google::protobuf::RepeatedPtrField<v1::FirewallRule>& msgs);

}  // namespace sfc::efw
