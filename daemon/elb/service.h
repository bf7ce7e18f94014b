// sfc.v1.LoadBalancerService: live CRUD of services and backends, weights,
// draining, and status (health, Maglev share, counters) of running
// "loadbalancer" instances.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "elb/runtime.h"
#include "engine/chain_engine.h"

namespace sfc::elb {

std::unique_ptr<grpc::Service> MakeLoadBalancerService(ChainEngine& engine, ElbRuntime& runtime);
// /metrics: per backend its health (1 up or draining, 0 otherwise, state
// label) and its share of the service's Maglev table. No map walks.
std::vector<VnfGauge> BackendGauges(ElbRuntime& runtime, const VnfInstanceInfo& info);

}  // namespace sfc::elb
