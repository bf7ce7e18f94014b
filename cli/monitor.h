// Drop and verdict monitor verb: sfcctl monitor CHAIN [--vnf NAME] [--drops|--all]
// [--sample N] [--rate N] [--count N].
#pragma once

#include "cli.h"

namespace sfc::cli {
int RunMonitor(Context& ctx, const std::vector<std::string>& args);
}  // namespace sfc::cli
