#include "dpi/config.h"

#include "common/json_fields.h"
#include "dpi/dpi.h"

namespace sfc::dpi {

Result<DpiConfig> ParseDpiConfig(const nlohmann::json& config, const std::string& path) {
  DpiConfig c;
  if (config.is_null()) return c;
  if (!config.is_object()) return json_fields::WrongType(path, "object", config);
  SFC_RETURN_IF_ERROR(
      json_fields::CheckMembers(config, path,
                                {"max_flows", "max_packets", "snap_bytes", "ring_bytes",
                                 "max_classifying", "idle_timeout_s"}));
  using json_fields::GetUintAs;
  SFC_RETURN_IF_ERROR(GetUintAs(config, path, "max_flows", 1024, kMaxFlowsLimit, &c.max_flows));
  SFC_RETURN_IF_ERROR(
      GetUintAs(config, path, "max_packets", 1, DPI_MAX_PACKETS_LIMIT, &c.max_packets));
  // 64 bytes hold any IP and TCP header; nDPI needs payload beyond them.
  SFC_RETURN_IF_ERROR(GetUintAs(config, path, "snap_bytes", 64, DPI_SNAP_MAX, &c.snap_bytes));
  SFC_RETURN_IF_ERROR(
      GetUintAs(config, path, "ring_bytes", kMinRingBytes, kMaxRingBytes, &c.ring_bytes));
  if ((c.ring_bytes & (c.ring_bytes - 1)) != 0)
    return InvalidArgument(path + "/ring_bytes: " + std::to_string(c.ring_bytes) +
                           " is not a power of two (a BPF ring buffer's size must be one)");
  SFC_RETURN_IF_ERROR(GetUintAs(config, path, "max_classifying", 1, 1u << 20, &c.max_classifying));
  SFC_RETURN_IF_ERROR(GetUintAs(config, path, "idle_timeout_s", 1, 86400, &c.idle_timeout_s));
  if (c.max_classifying > c.max_flows)
    return InvalidArgument(path + "/max_classifying: " + std::to_string(c.max_classifying) +
                           " is more than " + path + "/max_flows (" + std::to_string(c.max_flows) +
                           "): a flow being classified always has a flow table entry");
  return c;
}

}  // namespace sfc::dpi
