// The gRPC front of sfcd: ChainService, StatsService, MonitorService, TraceService, health
// and reflection, plus whatever services the VNF modules register.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/chain_engine.h"
#include "monitor/hub.h"
#include "monitor/service.h"
#include "trace/service.h"

namespace sfc::api {

struct ServerOptions {
  // "unix:/path" or "host:port" (TCP requires TLS files).
  std::vector<std::string> listen = {"unix:/run/sfcd/sfcd.sock"};
  std::string tls_cert, tls_key, tls_client_ca;
};

class Server {
 public:
  Server(ChainEngine& engine, VnfRegistry& registry);
  ~Server();
  // Before Start(): interceptors every call goes through (API metrics).
  void AddInterceptors(
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> f) {
    for (auto& i : f) interceptors_.push_back(std::move(i));
  }
  Status Start(const ServerOptions& options);
  // Stops accepting calls and cancels streams; returns when all have ended.
  void Shutdown();
  void Wait();

 private:
  class ChainServiceImpl;
  class StatsServiceImpl;

  ChainEngine& engine_;
  VnfRegistry& registry_;
  std::unique_ptr<ChainServiceImpl> chains_;
  std::unique_ptr<StatsServiceImpl> stats_;
  monitor::Hub monitor_hub_;
  monitor::MonitorServiceImpl monitor_;
  trace::TraceServiceImpl trace_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> unix_paths_;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors_;
};

}  // namespace sfc::api
