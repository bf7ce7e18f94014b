#include "trace/service.h"

#include "api/convert.h"
#include "common/log.h"
#include "monitor/service.h"

namespace sfc::trace {
namespace {

std::string_view XdpActionName(uint32_t action) {
  switch (action) {
    case 0:
      return "aborted";
    case 1:
      return "drop";
    case 2:
      return "pass";
    case 3:
      return "tx";
    case 4:
      return "redirect";
    default:
      return "unknown";
  }
}

}  // namespace

void ToProto(const TraceResult& r, v1::TraceReply* out) {
  out->set_interface(r.interface);
  out->set_ifindex(r.ifindex);
  out->set_frame_in(std::string(r.frame_in.begin(), r.frame_in.end()));
  out->set_frame_in_text(DescribeFrame(r.frame_in));
  for (const auto& ev : r.events) {
    v1::TraceHop* hop = out->add_hops();
    monitor::ToProto(ev, r.interface, hop->mutable_event());
    // A VNF's table changes go with its (only) verdict.
    if (ev.vnf == "entry" || ev.vnf == "egress") continue;
    for (const auto& c : r.changes) {
      if (c.vnf != ev.vnf) continue;
      v1::TraceStateChange* s = hop->add_state();
      s->set_map(c.map);
      s->set_created(c.created);
      s->set_key(c.key);
      s->set_value(c.value);
    }
  }
  out->set_result(std::string(XdpActionName(r.xdp_action)));
  out->set_egress_interface(r.egress_interface);
  out->set_egress_ifindex(r.egress_ifindex);
  out->set_frame_out(std::string(r.frame_out.begin(), r.frame_out.end()));
  out->set_frame_out_text(DescribeFrame(r.frame_out));
  out->set_entries_copied(r.entries_copied);
  out->set_copy_us(r.copy_us);
  out->set_run_us(r.run_us);
  out->set_build_us(r.build_us);
}

grpc::Status TraceServiceImpl::Trace(grpc::ServerContext*, const v1::TraceRequest* req,
                                     v1::TraceReply* reply) {
  if (req->chain().empty()) return api::ToGrpc(InvalidArgument("chain: required"));
  auto spec = ParsePacketExpr(req->packet());
  if (!spec.ok()) return api::ToGrpc(spec.status());
  std::lock_guard lock(mu_);
  auto result = RunTrace(engine_, req->chain(), *spec);
  if (!result.ok()) return api::ToGrpc(result.status());
  log::Info("trace.done", {{"chain", req->chain()},
                           {"packet", req->packet()},
                           {"result", std::string(XdpActionName(result->xdp_action))},
                           {"entries_copied", std::to_string(result->entries_copied)},
                           {"copy_us", std::to_string(result->copy_us)},
                           {"build_us", std::to_string(result->build_us)}});
  ToProto(*result, reply);
  return grpc::Status::OK;
}

}  // namespace sfc::trace
