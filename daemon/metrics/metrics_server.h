// sfcd's Prometheus endpoint (--metrics-listen ADDR:PORT): the chain and
// per-VNF counters by their BTF names, per-VNF latency histograms of timed
// chains, table fill, API request counts and latencies, and build info.
//
// Everything about the data plane is read at scrape time from the pinned maps
// (one lookup per stats map, one per latency slot, a few single-entry maps):
// nothing on the scrape path walks a flow table, a conntrack table or a rule
// table, so its cost does not grow with them (docs/metrics.md, docs/perf/).
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/chain_engine.h"

namespace prometheus {
class Collectable;
class Exposer;
class Registry;
}  // namespace prometheus

namespace sfc::metrics {

class ApiMetrics;

class MetricsServer {
 public:
  explicit MetricsServer(ChainEngine& engine);
  ~MetricsServer();

  // Interceptors that count the gRPC API's requests; add them to the
  // ServerBuilder before Start() of the API server.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
  ApiInterceptors();

  // Serves GET /metrics on "ADDR:PORT" ("127.0.0.1:9469", "[::1]:9469").
  Status Start(const std::string& listen);
  void Stop();

  // The text exposition /metrics answers, for tests and the scrape benchmark.
  std::string Render() const;

 private:
  ChainEngine& engine_;
  std::shared_ptr<prometheus::Registry> api_registry_;
  std::shared_ptr<ApiMetrics> api_;
  std::shared_ptr<prometheus::Collectable> chains_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace sfc::metrics
