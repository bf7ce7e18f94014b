#include "dpi/service.h"

#include <algorithm>
#include <map>

#include "api/convert.h"
#include "dpi/app_catalog.h"
#include "dpi/maps.h"
#include "dpi/requests.h"
#include "engine/bpf_util.h"
#include "sfc/v1/dpi.grpc.pb.h"

namespace sfc::dpi {
namespace {

constexpr std::string_view kType = "dpi";

class DpiServiceImpl final : public v1::DpiService::Service {
 public:
  DpiServiceImpl(ChainEngine& engine, const WorkerDirectory& workers)
      : engine_(engine), workers_(workers) {}

  grpc::Status ListFlows(grpc::ServerContext*, const v1::ListDpiFlowsRequest* req,
                         v1::ListDpiFlowsResponse* resp) override {
    std::string vnf;
    auto worker = Resolve(req->chain(), req->vnf(), &vnf);
    if (!worker.ok()) return api::ToGrpc(worker.status());
    auto filter = ParseFlowFilter(*req);
    if (!filter.ok()) return api::ToGrpc(filter.status());
    auto entries = ReadFlows((*worker)->flows_fd());
    if (!entries.ok()) return api::ToGrpc(entries.status());
    std::vector<const FlowEntry*> hits;
    for (const FlowEntry& e : *entries)
      if (Matches(*filter, e.value)) hits.push_back(&e);
    const size_t n = std::min(hits.size(), filter->top);
    std::partial_sort(
        hits.begin(), hits.begin() + n, hits.end(),
        [](const FlowEntry* a, const FlowEntry* b) { return a->value.packets > b->value.packets; });
    const uint64_t now = CoarseNowNs();
    for (size_t i = 0; i < n; ++i) FillFlow(hits[i]->key, hits[i]->value, now, resp->add_flows());
    resp->set_chain(req->chain());
    resp->set_vnf(vnf);
    resp->set_matched(hits.size());
    resp->set_table_flows(entries->size());
    return grpc::Status::OK;
  }

  grpc::Status ListApps(grpc::ServerContext*, const v1::ListDpiAppsRequest* req,
                        v1::ListDpiAppsResponse* resp) override {
    std::string vnf;
    auto worker = Resolve(req->chain(), req->vnf(), &vnf);
    if (!worker.ok()) return api::ToGrpc(worker.status());
    auto entries = ReadFlows((*worker)->flows_fd());
    if (!entries.ok()) return api::ToGrpc(entries.status());
    const WorkerSnapshot snap = (*worker)->Snapshot();

    auto traffic = ReadAppCounters((*worker)->app_stats_fd());
    if (!traffic.ok()) return api::ToGrpc(traffic.status());

    struct Agg {
      uint8_t category = 0;
      uint64_t flows = 0, packets = 0, bytes = 0, classified = 0;
    };
    std::map<uint16_t, Agg> apps;
    for (const FlowEntry& e : *entries) {
      // Pending and given-up flows without a name are "Unknown".
      const uint16_t app = e.value.state == DPI_PENDING ? 0 : e.value.app;
      Agg& a = apps[app];
      if (app != 0) a.category = e.value.category;
      a.flows++;
    }
    for (const auto& [app, c] : *traffic) {
      Agg& a = apps[app];
      a.packets = c.packets;
      a.bytes = c.bytes;
    }
    const AppCatalog& cat = AppCatalog::Get();
    for (const auto& [app, n] : snap.classified_by_app) {
      Agg& a = apps[app];
      a.classified = n;
    }
    for (auto& [app, a] : apps) {
      if (a.flows != 0 || app == 0) continue;
      for (const AppInfo& info : cat.apps())
        if (info.id == app) a.category = info.category;
    }
    std::vector<std::pair<uint16_t, Agg>> sorted(apps.begin(), apps.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.second.bytes != b.second.bytes ? a.second.bytes > b.second.bytes
                                              : a.second.classified > b.second.classified;
    });
    for (const auto& [app, a] : sorted) {
      v1::DpiApp* out = resp->add_apps();
      out->set_app(cat.AppName(app));
      out->set_app_id(app);
      out->set_category(cat.CategoryName(a.category));
      out->set_category_id(a.category);
      out->set_flows(a.flows);
      out->set_packets(a.packets);
      out->set_bytes(a.bytes);
      out->set_classified_total(a.classified);
    }
    resp->set_chain(req->chain());
    resp->set_vnf(vnf);
    resp->set_table_flows(entries->size());
    resp->set_max_flows((*worker)->config().max_flows);
    resp->set_classifier_flows(snap.classifier_flows);
    resp->set_classified(snap.classifier.classified);
    resp->set_given_up(snap.classifier.given_up);
    resp->set_evicted(snap.classifier.evicted);
    resp->set_expired(snap.classifier.expired);
    resp->set_packets_classified(snap.classifier.packets);
    resp->set_bytes_classified(snap.classifier.bytes);
    resp->set_late_packets(snap.classifier.late);
    if (auto counters = ReadPerCpuCounters((*worker)->stats_fd()); counters.ok()) {
      for (const auto& [name, value] : *counters) {
        if (name == "dpi_ring_full") resp->set_ring_full(value);
        if (name == "dpi_gave_up_ring") resp->set_gave_up_ring_full(value);
      }
    }
    resp->set_ndpi_version(cat.library_version());
    return grpc::Status::OK;
  }

  grpc::Status ListProtocols(grpc::ServerContext*, const v1::ListDpiProtocolsRequest*,
                             v1::ListDpiProtocolsResponse* resp) override {
    const AppCatalog& cat = AppCatalog::Get();
    for (const AppInfo& app : cat.apps()) {
      v1::DpiProtocol* p = resp->add_protocols();
      p->set_id(app.id);
      p->set_name(app.name);
      p->set_category(cat.CategoryName(app.category));
      p->set_category_id(app.category);
    }
    resp->set_ndpi_version(cat.library_version());
    return grpc::Status::OK;
  }

 private:
  // The classifier of chain/vnf; with `vnf` empty, of the chain's only dpi.
  Result<std::shared_ptr<Worker>> Resolve(const std::string& chain, const std::string& vnf,
                                          std::string* resolved) {
    if (chain.empty()) return InvalidArgument("chain: required");
    std::string name = vnf;
    if (name.empty()) {
      std::vector<std::string> found;
      for (const VnfRef& ref : engine_.Instances(kType))
        if (ref.info.chain == chain) found.push_back(ref.info.name);
      if (found.empty()) {
        if (!engine_.Get(chain).ok()) return NotFound("chain: no chain \"" + chain + "\"");
        return NotFound("vnf: chain \"" + chain + "\" has no dpi VNF");
      }
      if (found.size() > 1) {
        std::string list;
        for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
        return InvalidArgument("vnf: chain \"" + chain + "\" has several dpi VNFs (" + list +
                               "); name one");
      }
      name = found[0];
    } else {
      SFC_RETURN_IF_ERROR(
          engine_.WithVnf(chain, name, kType, [](VnfRef&) { return Status::Ok(); }));
    }
    auto worker = workers_.Find(chain, name);
    if (!worker)
      return Status(Code::kUnavailable, "vnf: the classifier of " + chain + "/" + name +
                                            " is not running (see sfcd's log)");
    *resolved = name;
    return worker;
  }

  ChainEngine& engine_;
  const WorkerDirectory& workers_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeDpiService(ChainEngine& engine, const WorkerDirectory& workers) {
  return std::make_unique<DpiServiceImpl>(engine, workers);
}

}  // namespace sfc::dpi
