// sfc.v1.TraceService: `sfcctl trace CHAIN 'PACKET'` (trace/shadow.h).
#pragma once

#include <grpcpp/grpcpp.h>

#include "engine/chain_engine.h"
#include "sfc/v1/trace.grpc.pb.h"
#include "trace/shadow.h"

namespace sfc::trace {

// The reply of a finished run (pure: tested without a kernel).
void ToProto(const TraceResult& r, v1::TraceReply* out);

class TraceServiceImpl final : public v1::TraceService::Service {
 public:
  explicit TraceServiceImpl(ChainEngine& engine) : engine_(engine) {}
  grpc::Status Trace(grpc::ServerContext* ctx, const v1::TraceRequest* req,
                     v1::TraceReply* reply) override;

 private:
  ChainEngine& engine_;
  // One trace at a time: each builds a full copy of a chain.
  std::mutex mu_;
};

}  // namespace sfc::trace
