// Firewall verb: sfcctl fw list|add-rule|delete-rule|replace|set-default CHAIN VNF ...
#pragma once

#include "cli.h"

namespace sfc::cli {
int RunFw(Context& ctx, const std::vector<std::string>& args);
}  // namespace sfc::cli
