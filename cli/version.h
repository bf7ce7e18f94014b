// sfcctl version: this client's version and the server's (ChainService.GetVersion).
#pragma once

#include <string>
#include <vector>

#include "cli.h"

namespace sfc::cli {
int RunVersion(Context& ctx, const std::vector<std::string>& args);
}
