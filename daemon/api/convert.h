// Conversions between the engine's types and the sfc.v1 messages.
#pragma once

#include <grpcpp/grpcpp.h>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "engine/chain_engine.h"
#include "engine/chain_spec.h"
#include "sfc/v1/chain.pb.h"
#include "sfc/v1/stats.pb.h"

namespace sfc::api {

grpc::Status ToGrpc(const Status& status);

// A ChainSpec message as chain-file JSON (so one parser validates both).
Result<nlohmann::json> SpecMessageToJson(const v1::ChainSpec& spec);
Status JsonToSpecMessage(const nlohmann::json& doc, v1::ChainSpec* out);

// The chain an Apply request names (spec message or chain-file text), parsed
// and validated; nothing on the system is looked at.
Result<ChainSpec> SpecOfRequest(const v1::ApplyRequest& req, const VnfRegistry& registry);

void ToProto(const ChainInfo& info, v1::Chain* out);
void ToProto(const std::string& chain, const ChainCounters& counters, v1::ChainStats* out);

}  // namespace sfc::api
