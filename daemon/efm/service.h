// sfc.v1.FlowService: ListFlows, WatchFlows, GetSummary over the exporters of
// running flowmon instances.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "efm/exporter.h"
#include "engine/chain_engine.h"

namespace sfc::efm {

// Where the service finds the exporter of an instance.
class ExporterDirectory {
 public:
  virtual ~ExporterDirectory() = default;
  // nullptr when the instance has no running exporter.
  virtual std::shared_ptr<FlowExporter> Find(const std::string& chain,
                                             const std::string& vnf) const = 0;
};

std::unique_ptr<grpc::Service> MakeFlowService(ChainEngine& engine,
                                               const ExporterDirectory& exporters);

}  // namespace sfc::efm
