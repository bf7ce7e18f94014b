#include "efm/service.h"

#include <google/protobuf/util/time_util.h>

#include "api/convert.h"
#include "common/log.h"
#include "efm/requests.h"
#include "sfc/v1/flowmon.grpc.pb.h"

namespace sfc::efm {
namespace {

constexpr size_t kMaxListed = 10000;
constexpr std::string_view kType = "flowmon";

google::protobuf::Timestamp WallTime(uint64_t mono_ns, int64_t wall_offset_ns) {
  const int64_t wall = static_cast<int64_t>(mono_ns) + wall_offset_ns;
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(wall > 0 ? wall : 0);
}

void FillFlow(const FlowKey& k, uint64_t packets, uint64_t bytes, uint64_t first_ns,
              uint64_t last_ns, uint8_t tcp_flags, uint16_t app, uint8_t app_category,
              int64_t wall_offset_ns, v1::Flow* out) {
  out->set_ip_version(k.family);
  out->set_src(SrcAddress(k));
  out->set_dst(DstAddress(k));
  if (!IsIcmp(k)) {
    out->set_src_port(SrcPort(k));
    out->set_dst_port(DstPort(k));
  } else {
    out->set_icmp_type(IcmpTypeCode(k) >> 8);
    out->set_icmp_code(IcmpTypeCode(k) & 0xff);
  }
  out->set_protocol(k.proto);
  out->set_protocol_name(ProtocolName(k.proto));
  out->set_ingress_ifindex(k.ifindex);
  out->set_vlan_id(k.vlan_outer);
  out->set_inner_vlan_id(k.vlan_inner);
  out->set_packets(packets);
  out->set_bytes(bytes);
  *out->mutable_first_seen() = WallTime(first_ns, wall_offset_ns);
  *out->mutable_last_seen() = WallTime(last_ns, wall_offset_ns);
  out->set_tcp_flags(tcp_flags);
  out->set_tcp_flags_text(TcpFlagsString(tcp_flags));
  const auto& catalog = dpi::AppCatalog::Get();
  out->set_app_id(app);
  out->set_app(catalog.AppName(app));
  out->set_app_category_id(app_category);
  out->set_app_category(catalog.CategoryName(app_category));
}

class FlowServiceImpl final : public v1::FlowService::Service {
 public:
  FlowServiceImpl(ChainEngine& engine, const ExporterDirectory& exporters)
      : engine_(engine), exporters_(exporters) {}

  grpc::Status ListFlows(grpc::ServerContext*, const v1::ListFlowsRequest* req,
                         v1::ListFlowsResponse* resp) override {
    std::string vnf;
    auto exporter = Resolve(req->chain(), req->vnf(), &vnf);
    if (!exporter.ok()) return api::ToGrpc(exporter.status());
    auto q = ParseFilters(*req);
    if (!q.ok()) return api::ToGrpc(q.status());
    auto sort = ParseSortBy(req->sort());
    if (!sort.ok()) return api::ToGrpc(InvalidArgument("sort: " + sort.status().message()));
    q->sort = *sort;
    q->top = req->top() == 0 ? kMaxListed : std::min<size_t>(req->top(), kMaxListed);

    auto listing = (*exporter)->List(*q);
    resp->set_chain(req->chain());
    resp->set_vnf(vnf);
    resp->set_matched(listing.matched);
    resp->set_active_flows(listing.active_flows);
    if (listing.scanned_at_wall_ns > 0)
      *resp->mutable_scanned_at() =
          google::protobuf::util::TimeUtil::NanosecondsToTimestamp(listing.scanned_at_wall_ns);
    for (const FlowView& v : listing.flows) {
      v1::Flow* f = resp->add_flows();
      FillFlow(v.key, v.counters.packets, v.counters.bytes, v.counters.first_seen_ns,
               v.counters.last_seen_ns, v.counters.tcp_flags, v.counters.app,
               v.counters.app_category, listing.wall_offset_ns, f);
      f->set_bytes_per_second(v.bytes_per_s);
      f->set_packets_per_second(v.packets_per_s);
    }
    return grpc::Status::OK;
  }

  grpc::Status WatchFlows(grpc::ServerContext* ctx, const v1::WatchFlowsRequest* req,
                          grpc::ServerWriter<v1::FinishedFlow>* writer) override {
    std::string vnf;
    auto exporter = Resolve(req->chain(), req->vnf(), &vnf);
    if (!exporter.ok()) return api::ToGrpc(exporter.status());
    auto q = ParseFilters(*req);
    if (!q.ok()) return api::ToGrpc(q.status());

    auto watcher = (*exporter)->Watch();
    std::vector<ExportedRecord> batch;
    // Pop() wakes at least every 200 ms so a cancelled client is noticed.
    while (!ctx->IsCancelled() && watcher->Pop(&batch, 200)) {
      for (const auto& e : batch) {
        const FlowRecord& r = e.record;
        FlowView view{
            r.key,
            {r.packets, r.bytes, r.start_ns, r.end_ns, r.tcp_flags, r.app, r.app_category},
            0,
            0};
        if (!Matches(*q, view)) continue;
        v1::FinishedFlow msg;
        FillFlow(r.key, r.packets, r.bytes, r.start_ns, r.end_ns, r.tcp_flags, r.app,
                 r.app_category, e.wall_offset_ns, msg.mutable_flow());
        msg.set_end_reason(std::string(ToString(r.reason)));
        msg.set_end_reason_code(static_cast<uint32_t>(r.reason));
        if (!writer->Write(msg)) break;  // client went away
      }
    }
    (*exporter)->Unwatch(watcher);
    if (uint64_t dropped = watcher->dropped())
      log::Warn("efm.watch_dropped", {{"chain", req->chain()},
                                      {"vnf", vnf},
                                      {"records", std::to_string(dropped)},
                                      {"reason", "client read too slowly"}});
    return grpc::Status::OK;
  }

  grpc::Status GetSummary(grpc::ServerContext*, const v1::GetFlowSummaryRequest* req,
                          v1::FlowSummary* resp) override {
    std::string vnf;
    auto exporter = Resolve(req->chain(), req->vnf(), &vnf);
    if (!exporter.ok()) return api::ToGrpc(exporter.status());
    ExporterSummary s = (*exporter)->Summary();
    resp->set_chain(req->chain());
    resp->set_vnf(vnf);
    resp->set_active_flows(s.totals.active_flows);
    resp->set_max_flows(s.max_flows);
    resp->set_flows_created(s.flows_created);
    resp->set_insert_failures(s.insert_failures);
    resp->set_evictions(s.totals.evictions);
    resp->set_records_exported(s.totals.records);
    resp->set_packets_exported(s.totals.packets);
    resp->set_bytes_exported(s.totals.bytes);
    resp->set_packets_per_second(s.packets_per_s);
    resp->set_bytes_per_second(s.bytes_per_s);
    resp->set_new_flows_per_second(s.new_flows_per_s);
    for (const auto& c : s.collectors) resp->add_ipfix_collectors(c);
    resp->set_ipfix_messages_sent(s.ipfix_messages);
    resp->set_ipfix_send_errors(s.ipfix_errors);
    if (s.scanned_at_wall_ns > 0)
      *resp->mutable_scanned_at() =
          google::protobuf::util::TimeUtil::NanosecondsToTimestamp(s.scanned_at_wall_ns);
    resp->set_scan_duration_ms(s.scan_ms);
    resp->set_idle_timeout_s(s.idle_timeout_s);
    resp->set_active_timeout_s(s.active_timeout_s);
    return grpc::Status::OK;
  }

 private:
  // The exporter of chain/vnf; with `vnf` empty, of the chain's only flowmon.
  Result<std::shared_ptr<FlowExporter>> Resolve(const std::string& chain, const std::string& vnf,
                                                std::string* resolved) {
    if (chain.empty()) return InvalidArgument("chain: required");
    std::string name = vnf;
    if (name.empty()) {
      std::vector<std::string> found;
      for (const VnfRef& ref : engine_.Instances(kType))
        if (ref.info.chain == chain) found.push_back(ref.info.name);
      if (found.empty()) {
        if (!engine_.Get(chain).ok()) return NotFound("chain: no chain \"" + chain + "\"");
        return NotFound("vnf: chain \"" + chain + "\" has no flowmon VNF");
      }
      if (found.size() > 1) {
        std::string list;
        for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
        return InvalidArgument("vnf: chain \"" + chain + "\" has several flowmon VNFs (" + list +
                               "); name one");
      }
      name = found[0];
    } else {
      SFC_RETURN_IF_ERROR(
          engine_.WithVnf(chain, name, kType, [](VnfRef&) { return Status::Ok(); }));
    }
    auto exporter = exporters_.Find(chain, name);
    if (!exporter)
      return Status(Code::kUnavailable, "vnf: the flow exporter of " + chain + "/" + name +
                                            " is not running yet; try again");
    *resolved = name;
    return exporter;
  }

  ChainEngine& engine_;
  const ExporterDirectory& exporters_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeFlowService(ChainEngine& engine,
                                               const ExporterDirectory& exporters) {
  return std::make_unique<FlowServiceImpl>(engine, exporters);
}

}  // namespace sfc::efm
