#include "api/convert.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

namespace sfc::api {

using google::protobuf::util::JsonParseOptions;
using google::protobuf::util::JsonPrintOptions;

grpc::Status ToGrpc(const Status& s) {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (s.code()) {
    case Code::kOk:
      return grpc::Status::OK;
    case Code::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case Code::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case Code::kAlreadyExists:
      code = grpc::StatusCode::ALREADY_EXISTS;
      break;
    case Code::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case Code::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case Code::kInternal:
      code = grpc::StatusCode::INTERNAL;
      break;
  }
  return grpc::Status(code, s.message());
}

Result<nlohmann::json> SpecMessageToJson(const v1::ChainSpec& spec) {
  JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string text;
  auto st = google::protobuf::util::MessageToJsonString(spec, &text, opts);
  if (!st.ok()) return InvalidArgument("spec: " + std::string(st.message()));
  // Non-throwing: a parse exception here would escape the gRPC handler.
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument("spec: not representable as JSON");
  return doc;
}

Status JsonToSpecMessage(const nlohmann::json& doc, v1::ChainSpec* out) {
  JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(doc.dump(), out, opts);
  if (!st.ok()) return Internal("converting spec: " + std::string(st.message()));
  return Status::Ok();
}

Result<ChainSpec> SpecOfRequest(const v1::ApplyRequest& req, const VnfRegistry& registry) {
  if (req.has_spec()) {
    SFC_ASSIGN_OR_RETURN(nlohmann::json doc, SpecMessageToJson(req.spec()));
    return ParseChainSpec(doc, registry);
  }
  if (!req.spec_json().empty()) return ParseChainSpecText(req.spec_json(), registry);
  return InvalidArgument("spec or spec_json is required");
}

void ToProto(const ChainInfo& info, v1::Chain* out) {
  (void)JsonToSpecMessage(info.spec.ToJson(), out->mutable_spec());
  out->set_spec_json(info.spec.ToJson().dump(2));
  out->set_generation(info.generation);
  *out->mutable_applied_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::seconds>(info.applied_at.time_since_epoch()).count());
  out->set_pin_dir(info.pin_dir);
  for (const auto& a : info.attachments) {
    auto* m = out->add_attachments();
    m->set_interface(a.interface);
    m->set_ifindex(a.ifindex);
    m->set_mode(a.mode);
    m->set_libxdp_mode(a.libxdp_mode);
    m->set_prog_id(a.prog_id);
    m->set_attached(a.attached);
  }
  for (const auto& v : info.vnfs) {
    auto* m = out->add_vnfs();
    m->set_name(v.name);
    m->set_type(v.type);
    m->set_slot(v.slot);
    m->set_prog_id(v.prog_id);
    m->set_pin_dir(v.pin_dir);
  }
}

void ToProto(const std::string& chain, const ChainCounters& c, v1::ChainStats* out) {
  out->set_chain(chain);
  *out->mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  for (const auto& [name, value] : c.chain) {
    auto* m = out->add_counters();
    m->set_name(name);
    m->set_value(value);
  }
  for (const auto& v : c.vnfs) {
    auto* vs = out->add_vnfs();
    vs->set_name(v.name);
    vs->set_type(v.type);
    for (const auto& [name, value] : v.counters) {
      auto* m = vs->add_counters();
      m->set_name(name);
      m->set_value(value);
    }
    if (v.latency) {
      auto* l = vs->mutable_latency();
      for (uint64_t b : v.latency->buckets()) l->add_buckets(b);
      l->set_count(v.latency->count());
      l->set_p50_ns(v.latency->QuantileNs(0.50));
      l->set_p90_ns(v.latency->QuantileNs(0.90));
      l->set_p99_ns(v.latency->QuantileNs(0.99));
    }
  }
  out->set_timing(c.timing);
}

}  // namespace sfc::api
