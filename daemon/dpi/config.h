// The "config" object of a dpi VNF, parsed and checked. Pure.
//
//   { "max_flows": 65536, "max_packets": 8, "snap_bytes": 1024,
//     "ring_bytes": 4194304, "max_classifying": 8192, "idle_timeout_s": 120 }
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace sfc::dpi {

struct DpiConfig {
  // Entries of the BPF flow table (LRU: the least recently used flow goes
  // when it is full).
  uint32_t max_flows = 65536;
  // Packets of a flow (both directions) the classifier gets before it gives up.
  uint32_t max_packets = 8;
  // Bytes of each of those packets copied, from the IP header on.
  uint32_t snap_bytes = 1024;
  // Size of the ring buffer that carries them to sfcd: a power of two, at
  // least one page.
  uint32_t ring_bytes = 4u << 20;
  // Flows the classifier keeps nDPI state for at once (each costs about
  // sizeof(ndpi_flow_struct)); when full, the least recently fed is given up.
  uint32_t max_classifying = 8192;
  // A flow with no packet for this long leaves the flow table and the
  // classifier.
  uint32_t idle_timeout_s = 120;
};

inline constexpr uint32_t kMaxFlowsLimit = 1u << 24;
inline constexpr uint32_t kMinRingBytes = 64u << 10;
inline constexpr uint32_t kMaxRingBytes = 1u << 30;

// Errors start with the JSON pointer of the bad member: "<path>/snap_bytes: ...".
Result<DpiConfig> ParseDpiConfig(const nlohmann::json& config, const std::string& path);

}  // namespace sfc::dpi
