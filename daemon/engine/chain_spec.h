// A chain as its file declares it, parsed and validated. Pure: no syscalls,
// so every rule here is unit-tested without privileges. Checks that need the
// running system (interfaces exist, not used by another chain) live in the
// engine.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/vnf_module.h"

namespace sfc {

enum class XdpMode { kNative, kGeneric };
enum class EgressAction { kPass, kTx, kRedirect, kFib };
enum class FailPolicy { kDrop, kPass };

std::string_view ToString(XdpMode m);
std::string_view ToString(EgressAction a);
std::string_view ToString(FailPolicy p);

struct InterfaceSpec {
  std::string name;
  XdpMode mode = XdpMode::kNative;
  bool operator==(const InterfaceSpec&) const = default;
};

struct VnfSpec {
  std::string name;
  std::string type;
  nlohmann::json config = nlohmann::json::object();
  bool operator==(const VnfSpec&) const = default;
};

struct EgressSpec {
  EgressAction action = EgressAction::kPass;
  std::string port;  // for kRedirect
  bool operator==(const EgressSpec&) const = default;
};

struct ChainSpec {
  std::string name;
  std::vector<InterfaceSpec> interfaces;
  std::vector<VnfSpec> vnfs;
  EgressSpec egress;
  FailPolicy fail_policy = FailPolicy::kDrop;
  bool timing = false;

  bool operator==(const ChainSpec&) const = default;
  // Normalized JSON: every default spelled out, what the state dir stores.
  nlohmann::json ToJson() const;
};

// The VNF types the daemon knows, by "type" string.
class VnfRegistry {
 public:
  void Add(std::unique_ptr<VnfModule> module);
  // nullptr when unknown.
  VnfModule* Find(std::string_view type) const;
  std::vector<std::string> Types() const;  // sorted

 private:
  std::map<std::string, std::unique_ptr<VnfModule>, std::less<>> modules_;
};

// Names become bpffs path components and interface-scoped pin names:
// 1-32 characters of [A-Za-z0-9_-], starting with a letter or digit.
bool IsSafeName(std::string_view name);

// Parses a chain file. Every error names the JSON pointer of what is wrong:
//   "/vnfs/2/type: unknown VNF type \"nat\" (known: firewall, noop)".
Result<ChainSpec> ParseChainSpecText(std::string_view text, const VnfRegistry& registry);
Result<ChainSpec> ParseChainSpec(const nlohmann::json& doc, const VnfRegistry& registry);

}  // namespace sfc
