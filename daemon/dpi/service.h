// sfc.v1.DpiService: ListFlows, ListApps, ListProtocols over the flow tables
// and classifier threads of running dpi instances.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "dpi/worker.h"
#include "engine/chain_engine.h"

namespace sfc::dpi {

// Where the service finds the classifier of an instance.
class WorkerDirectory {
 public:
  virtual ~WorkerDirectory() = default;
  // nullptr when the instance has no running classifier.
  virtual std::shared_ptr<Worker> Find(const std::string& chain, const std::string& vnf) const = 0;
};

std::unique_ptr<grpc::Service> MakeDpiService(ChainEngine& engine, const WorkerDirectory& workers);

}  // namespace sfc::dpi
