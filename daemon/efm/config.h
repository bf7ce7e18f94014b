// The "config" object of a flowmon VNF, parsed and checked. Pure.
//
//   { "max_flows": 1048576, "idle_timeout_s": 15, "active_timeout_s": 60,
//     "scan_interval_ms": 1000,
//     "ipfix": { "collectors": ["127.0.0.1:4739", "[::1]:4739"],
//                "observation_domain": 1, "template_refresh_s": 60 } }
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace sfc::efm {

// A numeric IPv4 or IPv6 address and a UDP port. No name resolution: the
// exporter must not block on DNS, and the config stays pure to validate.
struct Endpoint {
  int family = 0;                  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};  // network order; IPv4 uses the first 4 bytes
  uint16_t port = 0;               // host order
  std::string text;                // as written in the config
  bool operator==(const Endpoint& o) const {
    return family == o.family && addr == o.addr && port == o.port;
  }
};

// "192.0.2.1:4739" or "[2001:db8::1]:4739".
Result<Endpoint> ParseEndpoint(const std::string& text);

struct IpfixConfig {
  std::vector<Endpoint> collectors;  // empty: no IPFIX export
  uint32_t observation_domain = 1;
  uint32_t template_refresh_s = 60;
};

struct FlowmonConfig {
  uint32_t max_flows = 1048576;
  uint32_t idle_timeout_s = 15;  // less than active_timeout_s
  uint32_t active_timeout_s = 60;
  uint32_t scan_interval_ms = 1000;
  IpfixConfig ipfix;
};

inline constexpr uint32_t kMaxFlowsLimit = 1u << 26;
inline constexpr size_t kMaxCollectors = 8;

// Errors start with the JSON pointer of the bad member: "<path>/ipfix/collectors/1: ...".
Result<FlowmonConfig> ParseFlowmonConfig(const nlohmann::json& config, const std::string& path);

}  // namespace sfc::efm
