// Load balancer verb: sfcctl lb list|get|add-service|update-service|
// delete-service|add-backend|remove-backend|set-weight|drain CHAIN VNF ...
#pragma once

#include "cli.h"

namespace sfc::cli {
int RunLb(Context& ctx, const std::vector<std::string>& args);
}  // namespace sfc::cli
