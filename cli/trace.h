// Packet trace verb: sfcctl trace CHAIN 'PACKET'.
#pragma once

#include "cli.h"

namespace sfc::cli {
int RunTrace(Context& ctx, const std::vector<std::string>& args);
}  // namespace sfc::cli
