#include "metrics/metrics_server.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <map>

#include "common/latency_histogram.h"
#include "common/log.h"
#include "common/version.h"

namespace sfc::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

ClientMetric::Label L(std::string name, std::string value) {
  return ClientMetric::Label{std::move(name), std::move(value)};
}

// One family per metric name, filled across chains and VNFs in scrape order.
class Families {
 public:
  ClientMetric& Add(const std::string& name, const std::string& help, MetricType type,
                    std::vector<ClientMetric::Label> labels) {
    auto [it, fresh] = index_.try_emplace(name, families_.size());
    if (fresh) families_.push_back(MetricFamily{name, help, type, {}});
    auto& f = families_[it->second];
    f.metric.emplace_back();
    f.metric.back().label = std::move(labels);
    return f.metric.back();
  }
  void Counter(const std::string& name, const std::string& help,
               std::vector<ClientMetric::Label> labels, double v) {
    Add(name, help, MetricType::Counter, std::move(labels)).counter.value = v;
  }
  void Gauge(const std::string& name, const std::string& help,
             std::vector<ClientMetric::Label> labels, double v) {
    Add(name, help, MetricType::Gauge, std::move(labels)).gauge.value = v;
  }
  std::vector<MetricFamily> Take() { return std::move(families_); }

 private:
  std::map<std::string, size_t> index_;
  std::vector<MetricFamily> families_;
};

// Reads the data plane at every scrape, through the same engine calls as
// `sfcctl stats`: per chain one lookup of its stats map, per VNF one of its
// stats map and one of its latency slot, plus the modules' cheap gauges.
class ChainCollector final : public prometheus::Collectable {
 public:
  explicit ChainCollector(ChainEngine& engine) : engine_(engine) {}

  std::vector<MetricFamily> Collect() const override {
    const auto start = std::chrono::steady_clock::now();
    Families out;
    const VersionInfo v = BuildVersion();
    out.Gauge("sfc_build_info", "sfcd build: version, commit, libbpf, libxdp, kernel",
              {L("version", v.version), L("commit", v.commit), L("libbpf", v.libbpf),
               L("libxdp", v.libxdp), L("kernel", v.kernel)},
              1);
    uint64_t errors = 0;
    for (const auto& chain : engine_.ChainNames()) {
      auto c = engine_.Counters(chain, "", /*latency=*/true);
      if (!c.ok()) {
        ++errors;  // deleted between the two calls, or a pin gone missing
        continue;
      }
      out.Gauge("sfc_chain_timing", "1 when the chain records per-VNF run_ns and latency",
                {L("chain", chain)}, c->timing ? 1 : 0);
      for (const auto& [name, value] : c->chain)
        out.Counter("sfc_chain_" + name + "_total",
                    "chain counter " + name + " (struct sfc_chain_stats), summed over CPUs",
                    {L("chain", chain)}, static_cast<double>(value));
      for (const auto& vnf : c->vnfs) {
        std::vector<ClientMetric::Label> labels = {L("chain", chain), L("vnf", vnf.name),
                                                   L("type", vnf.type)};
        for (const auto& [name, value] : vnf.counters)
          out.Counter("sfc_vnf_" + name + "_total",
                      "VNF counter " + name + " (the VNF's stats struct), summed over CPUs", labels,
                      static_cast<double>(value));
        if (c->timing && vnf.latency) AddLatency(out, labels, vnf);
      }
    }
    for (const auto& info : engine_.InstanceInfos()) {
      const VnfModule* m = engine_.registry().Find(info.type);
      if (!m) continue;
      for (auto& g : m->Gauges(info)) {
        std::vector<ClientMetric::Label> labels = {L("chain", info.chain), L("vnf", info.name),
                                                   L("type", info.type)};
        for (auto& [k, val] : g.labels) labels.push_back(L(k, val));
        if (g.counter)
          out.Counter("sfc_vnf_" + g.name, g.help, std::move(labels), g.value);
        else
          out.Gauge("sfc_vnf_" + g.name, g.help, std::move(labels), g.value);
      }
    }
    out.Counter("sfc_metrics_read_errors_total",
                "chains whose maps could not be read during a scrape (this scrape)", {},
                static_cast<double>(errors));
    out.Gauge("sfc_metrics_collect_seconds", "time this scrape spent reading the data plane", {},
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return out.Take();
  }

 private:
  static void AddLatency(Families& out, const std::vector<ClientMetric::Label>& labels,
                         const ChainCounters::Vnf& vnf) {
    auto& m = out.Add("sfc_vnf_latency_ns",
                      "time per packet in the VNF, ns, log2 buckets (chains with timing on)",
                      MetricType::Histogram, labels);
    uint64_t cum = 0;
    const auto& b = vnf.latency->buckets();
    // The open last bucket is +Inf, which the serializer adds from sample_count.
    for (int i = 0; i < LatencyHistogram::kBuckets - 1; ++i) {
      cum += b[i];
      m.histogram.bucket.push_back({cum, static_cast<double>(LatencyHistogram::UpperNs(i))});
    }
    m.histogram.bucket.push_back({vnf.latency->count(), std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = vnf.latency->count();
    for (const auto& [name, value] : vnf.counters)
      if (name == "run_ns") m.histogram.sample_sum = static_cast<double>(value);
  }

  ChainEngine& engine_;
};

}  // namespace

// Request counts and latencies of the gRPC API, by method and status code.
class ApiMetrics {
 public:
  explicit ApiMetrics(prometheus::Registry& r)
      : requests_(prometheus::BuildCounter()
                      .Name("sfc_api_requests_total")
                      .Help("gRPC API requests finished, by method and status code")
                      .Register(r)),
        latency_(prometheus::BuildHistogram()
                     .Name("sfc_api_request_duration_seconds")
                     .Help("gRPC API request duration (a Watch stream: its whole life)")
                     .Register(r)) {}

  void Record(const std::string& method, grpc::StatusCode code, double seconds) {
    static const prometheus::Histogram::BucketBoundaries kBounds = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    requests_.Add({{"method", method}, {"code", CodeName(code)}}).Increment();
    latency_.Add({{"method", method}}, kBounds).Observe(seconds);
  }

 private:
  static std::string CodeName(grpc::StatusCode c) {
    static const char* kNames[] = {"OK",
                                   "CANCELLED",
                                   "UNKNOWN",
                                   "INVALID_ARGUMENT",
                                   "DEADLINE_EXCEEDED",
                                   "NOT_FOUND",
                                   "ALREADY_EXISTS",
                                   "PERMISSION_DENIED",
                                   "RESOURCE_EXHAUSTED",
                                   "FAILED_PRECONDITION",
                                   "ABORTED",
                                   "OUT_OF_RANGE",
                                   "UNIMPLEMENTED",
                                   "INTERNAL",
                                   "UNAVAILABLE",
                                   "DATA_LOSS",
                                   "UNAUTHENTICATED"};
    int i = static_cast<int>(c);
    return i >= 0 && i < 17 ? kNames[i] : std::to_string(i);
  }

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
};

namespace {

class ApiInterceptor final : public grpc::experimental::Interceptor {
 public:
  ApiInterceptor(std::shared_ptr<ApiMetrics> m, std::string method)
      : metrics_(std::move(m)), method_(std::move(method)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using P = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(P::PRE_SEND_STATUS)) {
      metrics_->Record(
          method_, methods->GetSendStatus().error_code(),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
    methods->Proceed();
  }

 private:
  std::shared_ptr<ApiMetrics> metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

class ApiInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ApiInterceptorFactory(std::shared_ptr<ApiMetrics> m) : metrics_(std::move(m)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new ApiInterceptor(metrics_, info->method() ? info->method() : "unknown");
  }

 private:
  std::shared_ptr<ApiMetrics> metrics_;
};

}  // namespace

MetricsServer::MetricsServer(ChainEngine& engine)
    : engine_(engine),
      api_registry_(std::make_shared<prometheus::Registry>()),
      api_(std::make_shared<ApiMetrics>(*api_registry_)),
      chains_(std::make_shared<ChainCollector>(engine)) {}

MetricsServer::~MetricsServer() { Stop(); }

std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
MetricsServer::ApiInterceptors() {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> out;
  out.push_back(std::make_unique<ApiInterceptorFactory>(api_));
  return out;
}

Status MetricsServer::Start(const std::string& listen) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return InvalidArgument("--metrics-listen " + listen + ": " + e.what());
  }
  exposer_->RegisterCollectable(chains_);
  exposer_->RegisterCollectable(api_registry_);
  log::Info("metrics.listening", {{"address", listen}});
  return Status::Ok();
}

void MetricsServer::Stop() { exposer_.reset(); }

std::string MetricsServer::Render() const {
  auto families = chains_->Collect();
  auto api = api_registry_->Collect();
  families.insert(families.end(), api.begin(), api.end());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace sfc::metrics
