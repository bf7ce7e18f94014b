// The "loadbalancer" VNF's config: services (VIP, protocol, port, forwarding
// mode, Maglev table size, health check) and their weighted backends.
// Parsing and validation are pure, so every rule is unit-tested without root;
// each error starts with the JSON pointer of the offending member.
//
//   {"services": [{"name": "web", "vip": "10.0.0.100", "proto": "tcp", "port": 80,
//                  "mode": "dnat", "table_size": 65537,
//                  "health": {"type": "http", "interval_ms": 1000, "timeout_ms": 500,
//                             "rise": 2, "fall": 2, "path": "/", "expect_status": 200},
//                  "backends": [{"address": "10.0.1.2", "port": 8080, "weight": 1}]}],
//    "max_connections": 1048576, "tcp_close_timeout_s": 10}
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace sfc::elb {

struct IpAddr {
  int family = 0;                   // 4 or 6
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
  std::string ToString() const;
  static std::optional<IpAddr> Parse(const std::string& text);
};

using MacAddr = std::array<uint8_t, 6>;
std::optional<MacAddr> ParseMac(const std::string& text);
std::string MacToString(const MacAddr& mac);

enum class L4Proto : uint8_t { kTcp = 6, kUdp = 17 };
enum class ForwardMode { kDnat, kDsr };
enum class HealthType { kNone, kTcp, kHttp };

std::string_view ToString(L4Proto p);
std::string_view ToString(ForwardMode m);
std::string_view ToString(HealthType t);

struct HealthSpec {
  HealthType type = HealthType::kNone;
  uint32_t interval_ms = 1000;
  uint32_t timeout_ms = 500;
  uint32_t rise = 2;  // consecutive successes that bring a backend up
  uint32_t fall = 2;  // consecutive failures that take it down
  std::string path = "/";
  uint32_t expect_status = 200;
  // Probe this port instead of the backend's (0: the backend's own port).
  uint16_t port = 0;
  // http: a backend may scale its own weight with an `Sfc-Weight: N` header
  // (percent) in its health answers, e.g. by its load.
  bool load_weight = false;
  bool operator==(const HealthSpec&) const = default;
};

inline constexpr uint32_t kMaxWeight = 65535;

struct BackendSpec {
  IpAddr address;
  uint16_t port = 0;  // 0: keep the client's destination port (all-ports services, dsr)
  uint32_t weight = 1;
  std::optional<MacAddr> mac;  // dsr: next-hop MAC; resolved from neighbours when absent
  bool operator==(const BackendSpec&) const = default;
  // "10.0.1.2:8080", "[2001:db8::2]:8080": identity within a service.
  std::string Key() const;
};

struct ServiceSpec {
  std::string name;
  IpAddr vip;
  L4Proto proto = L4Proto::kTcp;
  uint16_t port = 0;  // 0: every port of the VIP
  ForwardMode mode = ForwardMode::kDnat;
  // dsr only: send the rewritten frame straight back out of the ingress port
  // (XDP_TX, one-armed L2 DSR) instead of handing it to the chain's next stage.
  bool dsr_tx = true;
  uint32_t table_size = 65537;
  HealthSpec health;
  std::vector<BackendSpec> backends;
  bool operator==(const ServiceSpec&) const = default;
  // "tcp/10.0.0.100:80", "udp/[2001:db8::1]:*": identity of the service.
  std::string Key() const;
  const BackendSpec* FindBackend(const IpAddr& addr, uint16_t port) const;
  BackendSpec* FindBackend(const IpAddr& addr, uint16_t port);
};

inline constexpr uint32_t kDefaultMaxConnections = 1048576;
inline constexpr uint32_t kDefaultTcpCloseTimeoutS = 10;
inline constexpr uint32_t kMaxTcpCloseTimeoutS = 3600;
inline constexpr uint32_t kMaxServices = 1024;
inline constexpr uint32_t kMaxBackends = 16383;  // over all services of an instance

struct LbConfig {
  std::vector<ServiceSpec> services;
  uint32_t max_connections = kDefaultMaxConnections;
  // A closed TCP connection (FIN both ways, or RST) keeps its entry this long
  // after its last sign of life, for late segments; then sfcd removes it.
  uint32_t tcp_close_timeout_s = kDefaultTcpCloseTimeoutS;
  bool operator==(const LbConfig&) const = default;

  const ServiceSpec* FindService(std::string_view name) const;
  ServiceSpec* FindService(std::string_view name);
};

// Parses and validates; `path` is the JSON pointer of `config` ("/vnfs/2/config").
Result<LbConfig> ParseLbConfig(const nlohmann::json& config, const std::string& path);
Result<ServiceSpec> ParseService(const nlohmann::json& v, const std::string& path);
Result<BackendSpec> ParseBackend(const nlohmann::json& v, const std::string& path,
                                 const ServiceSpec& service);
// Checks the rules that span members (duplicates, limits); ParseLbConfig runs it.
Status ValidateLbConfig(const LbConfig& config, const std::string& path);

// Normalized JSON (defaults spelled out): what the daemon stores.
nlohmann::json ToJson(const LbConfig& config);
nlohmann::json ToJson(const ServiceSpec& service);
nlohmann::json ToJson(const BackendSpec& backend, const ServiceSpec& service);

}  // namespace sfc::elb
