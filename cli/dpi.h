// dpi verbs: sfcctl dpi apps CHAIN [VNF], sfcctl dpi flows CHAIN [VNF]
// [--app NAME] [--all] [--top N], sfcctl dpi protocols.
#pragma once

#include "cli.h"

namespace sfc::cli {
int RunDpi(Context& ctx, const std::vector<std::string>& args);
}  // namespace sfc::cli
