// MonitorService.Watch (proto/sfc/v1/monitor.proto) on top of the hub.
#pragma once

#include <atomic>

#include "monitor/hub.h"
#include "sfc/v1/monitor.grpc.pb.h"

namespace sfc::monitor {

class MonitorServiceImpl final : public v1::MonitorService::Service {
 public:
  explicit MonitorServiceImpl(Hub& hub) : hub_(hub) {}

  grpc::Status Watch(grpc::ServerContext* ctx, const v1::WatchRequest* req,
                     grpc::ServerWriter<v1::MonitorEvent>* writer) override;

 private:
  Hub& hub_;
};

// The request's settings, or INVALID_ARGUMENT naming the field.
Result<WatchOptions> ParseWatchRequest(const v1::WatchRequest& req);
void ToProto(const Event& ev, const std::string& ifname, v1::PacketEvent* out);

}  // namespace sfc::monitor
