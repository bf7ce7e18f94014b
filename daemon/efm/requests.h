// FlowService request filters, parsed and checked. Pure: no exporter needed.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "dpi/app_catalog.h"
#include "efm/flow_query.h"
#include "sfc/v1/flowmon.pb.h"

namespace sfc::efm {

// A protocol name ("tcp", "ipv6-icmp", ...) or number 0-255.
Result<uint8_t> ParseProtocol(const std::string& text);

// An application name as nDPI spells it (case-insensitive), for the app filter.
Result<uint16_t> ParseApp(const std::string& text);

// The prefix, port, protocol and application filters of a ListFlows or
// WatchFlows request.
template <typename Req>
Result<FlowQuery> ParseFilters(const Req& req) {
  FlowQuery q;
  if (!req.prefix().empty()) {
    auto p = ParsePrefix(req.prefix());
    if (!p.ok()) return InvalidArgument("prefix: " + p.status().message());
    q.prefix = *p;
  }
  if (req.has_port()) {
    if (req.port() > 65535)
      return InvalidArgument("port: " + std::to_string(req.port()) + " is not a port");
    q.port = static_cast<uint16_t>(req.port());
  }
  if (!req.protocol().empty()) {
    SFC_ASSIGN_OR_RETURN(uint8_t proto, ParseProtocol(req.protocol()));
    q.proto = proto;
  }
  if (!req.app().empty()) {
    SFC_ASSIGN_OR_RETURN(uint16_t app, ParseApp(req.app()));
    q.app = app;
  }
  return q;
}

}  // namespace sfc::efm
