// The contract between the chain engine and one VNF type's control plane.
//
// The engine owns the life cycle of every chain and generation; a module only
// knows its own VNF: how to check its config, how to open and configure its
// BPF object, what to write into its maps, and which API it offers.
//
//   Validate(config)            pure, no syscalls (unit-tested without root)
//   Open(info, config)          new bpf_object, rodata and map sizes set, not loaded
//     engine: sets sfc_slot/sfc_fail_policy/sfc_timing, reuses the chain's shared
//     maps and this instance's state maps, loads the object
//   VnfObject::Populate()       fills config-derived maps before packets can arrive
//     engine: switches the chain to the new generation, moves pins in place
//   VnfObject::Committed()      the generation stays (or Abandoned(): it was rolled back)
//   OnInstanceUp/Down           background work (exporters, health checks)
#pragma once

#include <bpf/libbpf.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace grpc {
class ServerBuilder;
}

namespace sfc {

class ChainEngine;

// Where one VNF instance lives.
struct VnfInstanceInfo {
  std::string chain;    // chain name
  std::string name;     // instance name, unique in the chain
  std::string type;     // module type
  std::string pin_dir;  // <bpffs root>/<chain>/<name>: final home of its maps
  uint32_t slot = 0;    // position in the chain's prog array
};

// One instance's BPF object between Open() and the switch to its generation.
class VnfObject {
 public:
  virtual ~VnfObject() = default;
  virtual bpf_object* object() = 0;
  // The program that goes into the chain's prog array slot.
  virtual bpf_program* program() = 0;
  // Whether the contents of map `map_name` carry over when this instance stays
  // in a re-applied chain (conntrack, flows, counters: yes). Maps that
  // Populate() rebuilds from the config answer false, so a new generation gets
  // fresh ones and the running generation never sees a half-written table.
  virtual bool KeepsState(std::string_view map_name) const {
    (void)map_name;
    return true;
  }
  // Called once the object is loaded, before any packet can reach it.
  virtual Status Populate() { return Status::Ok(); }
  // The generation this object belongs to is live for good (every step of
  // the Apply succeeded): release what the running generation no longer needs.
  virtual void Committed() {}
  // The generation will not run: an Apply failed after Populate(). Undo what
  // Populate() wrote into state maps shared with the running generation, so
  // that a failed Apply leaves that state as it found it.
  virtual void Abandoned() {}
};

// One value a module exports on /metrics for an instance, e.g. a table's fill.
// `name` is the metric name without the "sfc_vnf_" prefix (a counter's ends in
// "_total"); chain, vnf and type labels are added by the caller.
struct VnfGauge {
  std::string name;
  std::string help;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  bool counter = false;  // a monotonic count (exposed as a counter), not a gauge
};

class VnfModule {
 public:
  virtual ~VnfModule() = default;
  // The "type" string of chain files: "firewall", "flowmon", ...
  virtual std::string_view type() const = 0;
  // Checks a VNF's "config" object. `path` is its JSON pointer
  // ("/vnfs/2/config"); every error message starts with the pointer of the
  // offending member, e.g. "/vnfs/2/config/rules/3/dst: not a CIDR".
  virtual Status Validate(const nlohmann::json& config, const std::string& path) const = 0;
  // Opens (does not load) a BPF object for one instance of an already
  // validated config.
  virtual Result<std::unique_ptr<VnfObject>> Open(const VnfInstanceInfo& info,
                                                  const nlohmann::json& config) const = 0;
  // Adds this module's gRPC services, if it has any. Called once at startup.
  virtual void RegisterServices(grpc::ServerBuilder& builder, ChainEngine& engine) {
    (void)builder;
    (void)engine;
  }
  // An instance started running (applied, re-applied or adopted at start) or
  // stopped (deleted, or removed from its chain). Default: nothing to do.
  virtual void OnInstanceUp(const VnfInstanceInfo& info, const nlohmann::json& config) {
    (void)info;
    (void)config;
  }
  virtual void OnInstanceDown(const VnfInstanceInfo& info) { (void)info; }
  // Gauges for /metrics, read at every scrape: must be cheap (single map
  // lookups, cached results of background work), never a table walk.
  virtual std::vector<VnfGauge> Gauges(const VnfInstanceInfo& info) const {
    (void)info;
    return {};
  }
  // sfcd is exiting: stop background work and join its threads. The data
  // plane keeps running, so do not touch maps or instances here.
  virtual void Stop() {}
};

}  // namespace sfc
