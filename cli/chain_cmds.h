// Chain verbs: apply, get, describe, delete, stats.
#pragma once

#include "cli.h"

namespace sfc::cli {
int RunApply(Context& ctx, const std::vector<std::string>& args);
int RunGet(Context& ctx, const std::vector<std::string>& args);
int RunDescribe(Context& ctx, const std::vector<std::string>& args);
int RunDelete(Context& ctx, const std::vector<std::string>& args);
int RunStats(Context& ctx, const std::vector<std::string>& args);
}  // namespace sfc::cli
