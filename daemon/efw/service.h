// sfc.v1.FirewallService: live rule edits of running firewall instances.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/service_type.h>

#include <memory>

#include "engine/chain_engine.h"

namespace sfc::efw {

std::unique_ptr<grpc::Service> MakeFirewallService(ChainEngine& engine);

}  // namespace sfc::efw
