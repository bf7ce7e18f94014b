// Flow monitor verb: sfcctl flows CHAIN [--vnf NAME] [--top N] [--sort bytes|packets|rate]
// [--prefix P] [--port N] [--proto P] [--watch | --summary].
#pragma once

#include "cli.h"

namespace sfc::cli {
int RunFlows(Context& ctx, const std::vector<std::string>& args);
}  // namespace sfc::cli
