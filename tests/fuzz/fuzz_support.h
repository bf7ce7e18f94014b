// Shared by the fuzz targets: a VNF registry whose modules run the real,
// pure config validators (no BPF objects), JSON input, and the check that
// turns a broken invariant into a crash libFuzzer reports.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "efm/config.h"
#include "efw/config.h"
#include "elb/config.h"
#include "engine/chain_spec.h"

namespace sfc::fuzz {

// Aborts with `what` when an invariant does not hold: a finding, not a
// rejected input.
inline void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

// The same Validate() as the daemon's modules (daemon/*/module.cc), without Open().
class ValidatorModule : public VnfModule {
 public:
  using Fn = Status (*)(const nlohmann::json&, const std::string&);
  ValidatorModule(std::string type, Fn fn) : type_(std::move(type)), fn_(fn) {}
  std::string_view type() const override { return type_; }
  Status Validate(const nlohmann::json& config, const std::string& path) const override {
    return fn_(config, path);
  }
  Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo&,
                                          const nlohmann::json&) const override {
    return Internal("fuzz targets load no BPF objects");
  }

 private:
  std::string type_;
  Fn fn_;
};

inline const VnfRegistry& Registry() {
  static const VnfRegistry* registry = [] {
    auto* r = new VnfRegistry;
    r->Add(std::make_unique<ValidatorModule>(
        "noop", [](const nlohmann::json& c, const std::string& path) {
          if (!c.empty()) return InvalidArgument(path + ": noop takes no configuration");
          return Status::Ok();
        }));
    r->Add(std::make_unique<ValidatorModule>("firewall",
                                             [](const nlohmann::json& c, const std::string& path) {
                                               return efw::ParseFirewallConfig(c, path).status();
                                             }));
    r->Add(std::make_unique<ValidatorModule>("loadbalancer",
                                             [](const nlohmann::json& c, const std::string& path) {
                                               return elb::ParseLbConfig(c, path).status();
                                             }));
    r->Add(std::make_unique<ValidatorModule>("flowmon",
                                             [](const nlohmann::json& c, const std::string& path) {
                                               return efm::ParseFlowmonConfig(c, path).status();
                                             }));
    return r;
  }();
  return *registry;
}

// The input as JSON, as the daemon reads chain files: nullopt when it is not.
inline std::optional<nlohmann::json> ParseJson(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace sfc::fuzz
