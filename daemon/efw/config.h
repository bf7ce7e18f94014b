// The firewall's configuration as chain files and the API state it: rules,
// default policy, conntrack settings. Pure: parsing and validation only, so
// every rule about what is accepted is unit-tested without privileges.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sfc::efw {

enum class Action : uint8_t { kAllow = 0, kDrop = 1, kReject = 2 };
enum class Proto : uint8_t { kAny, kTcp, kUdp, kIcmp, kIcmpv6 };

// Connection states a rule can require (bit set); 0 means any state.
enum StateBit : uint8_t {
  kStateNew = 1 << 0,
  kStateEstablished = 1 << 1,
  kStateRelated = 1 << 2,
  kStateInvalid = 1 << 3,
};

std::string_view ToString(Action a);
std::string_view ToString(Proto p);

// An IPv4 or IPv6 prefix with no host bits set.
struct Prefix {
  int family = 4;                  // 4 or 6
  std::array<uint8_t, 16> addr{};  // IPv4 uses bytes 0..3
  uint8_t len = 0;

  int bits() const { return family == 4 ? 32 : 128; }
  // Whether `other` (same family) lies inside this prefix.
  bool Contains(const Prefix& other) const;
  // Whether the address (network order bytes, family's length) is inside.
  bool ContainsAddr(const uint8_t* a) const;
  std::string ToString() const;
  auto operator<=>(const Prefix&) const = default;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a host prefix).
// The message names what is wrong, without a JSON path.
Result<Prefix> ParsePrefix(std::string_view text);

struct PortRange {
  uint16_t lo = 0, hi = 65535;
  bool operator==(const PortRange&) const = default;
};

struct TcpFlags {
  uint8_t mask = 0, value = 0;
  bool operator==(const TcpFlags&) const = default;
};

struct Rule {
  std::string id;
  std::optional<Prefix> src, dst;
  Proto proto = Proto::kAny;
  std::optional<PortRange> sport, dport;
  std::optional<TcpFlags> tcp_flags;
  std::optional<uint8_t> icmp_type;
  uint8_t states = 0;  // StateBit set; 0: any
  std::string iif;     // empty: any interface
  // The flow's application and category as a dpi VNF earlier in the chain
  // names them (nDPI ids, daemon/dpi/app_catalog.h); 0 is "Unknown", what
  // packets carry before their flow is classified and in chains without dpi.
  std::optional<uint16_t> app;
  std::optional<uint8_t> app_category;
  Action action = Action::kDrop;

  bool operator==(const Rule&) const = default;
  // Normalized form (what the saved spec and ListRules show).
  nlohmann::json ToJson() const;
};

struct ConntrackConfig {
  uint32_t max_entries = 65536;
  uint32_t tcp_syn_timeout_s = 60;
  uint32_t tcp_established_timeout_s = 3600;
  uint32_t tcp_close_timeout_s = 10;
  uint32_t udp_timeout_s = 60;
  uint32_t icmp_timeout_s = 30;
  bool operator==(const ConntrackConfig&) const = default;
};

inline constexpr uint32_t kMaxRulesLimit = 1u << 24;  // counter slots are 24 bits
inline constexpr size_t kMaxRuleIdLen = 63;

struct FirewallConfig {
  Action default_action = Action::kDrop;  // kAllow or kDrop
  ConntrackConfig conntrack;
  // Capacity of the rule tables, fixed when the instance is loaded; live
  // edits can grow the rule set up to it.
  uint32_t max_rules = 65536;
  std::vector<Rule> rules;

  nlohmann::json ToJson() const;
};

// Checks and parses a firewall "config" object; `path` is its JSON pointer
// ("/vnfs/0/config"). Errors name the offending member:
//   "/vnfs/0/config/rules/3/dst: \"10.0.0.300/8\" is not an IPv4 or IPv6 prefix".
Result<FirewallConfig> ParseFirewallConfig(const nlohmann::json& config, const std::string& path);

// One rule object; `path` is its pointer. Rules without an "id" get none
// here: AssignRuleIds() names them.
Result<Rule> ParseRule(const nlohmann::json& rule, const std::string& path);

// Gives rules without an id the id "rule-<n>" (n: 1-based position) and
// rejects duplicates; `path` is the pointer of the rules array.
Status AssignRuleIds(std::vector<Rule>& rules, const std::string& path);

// Parses "default" values: "allow" | "drop".
Result<Action> ParseDefaultAction(const nlohmann::json& v, const std::string& path);

}  // namespace sfc::efw
