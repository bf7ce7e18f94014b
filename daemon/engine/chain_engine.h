// The chain engine: builds chains from specs, switches them atomically, and
// owns every change to the data plane. The pins are the source of truth for
// what runs; the engine adds the desired state (saved specs) and the locking.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/bpf_util.h"
#include "engine/chain_spec.h"
#include "engine/pin_layout.h"

namespace sfc {

struct AttachmentInfo {
  std::string interface;
  uint32_t ifindex = 0;
  std::string mode;         // "native" | "generic" as attached
  std::string libxdp_mode;  // "dispatcher" | "single-program"
  uint32_t prog_id = 0;
  bool attached = false;
};

struct VnfInfo {
  std::string name;
  std::string type;
  uint32_t slot = 0;
  uint32_t prog_id = 0;
  std::string pin_dir;
};

struct ChainInfo {
  ChainSpec spec;
  uint64_t generation = 0;
  std::chrono::system_clock::time_point applied_at;
  std::string pin_dir;
  std::vector<AttachmentInfo> attachments;
  std::vector<VnfInfo> vnfs;
};

struct ChainCounters {
  NamedCounters chain;
  struct Vnf {
    std::string name;
    std::string type;
    NamedCounters counters;
  };
  std::vector<Vnf> vnfs;
};

// A running VNF instance, as handed to a module's API implementation.
struct VnfRef {
  VnfInstanceInfo info;
  nlohmann::json config;
  VnfModule* module = nullptr;
};

class ChainEngine {
 public:
  struct Options {
    std::string bpffs_root = "/sys/fs/bpf/sfc";
    std::string state_dir = "/var/lib/sfcd";
    // false: load and pin chains but attach nothing; each chain gets one
    // unattached entry program pinned at <chain>/entry (tests, benchmarks).
    bool attach = true;
  };

  ChainEngine(Options options, const VnfRegistry& registry);
  ChainEngine(const ChainEngine&) = delete;
  ChainEngine& operator=(const ChainEngine&) = delete;

  // Creates the directories, then adopts what is pinned and reconciles it
  // with the saved specs. Never detaches a working chain.
  Status Start();

  // Makes the chain match `spec`. *changed is false when it already did.
  Result<ChainInfo> Apply(const ChainSpec& spec, bool dry_run, bool* changed);
  Status Delete(std::string_view name);
  Result<ChainInfo> Get(std::string_view name);
  std::vector<ChainInfo> List();
  // Counters of the chain and its VNFs (only `vnf` when not empty).
  Result<ChainCounters> Counters(std::string_view chain, std::string_view vnf = {});

  // Detaches every chain from its interfaces (pins stay): sfcd --detach-on-exit.
  void DetachAll();
  // Stops the modules' background work; chains keep running.
  void Shutdown();

  // --- for VNF modules' APIs ---
  Status WithVnf(std::string_view chain, std::string_view vnf, std::string_view type,
                 const std::function<Status(VnfRef&)>& fn);
  // Inside WithVnf: records the instance's new config in the saved spec.
  Status StoreVnfConfig(VnfRef& ref, nlohmann::json config);
  std::vector<VnfRef> Instances(std::string_view type);

  const PinLayout& pins() const { return pins_; }
  const VnfRegistry& registry() const { return registry_; }

 private:
  struct Chain {
    ChainSpec spec;
    uint64_t generation = 0;
    std::chrono::system_clock::time_point applied_at;
  };
  class Generation;

  Status CheckSystem(const ChainSpec& spec) const;
  Result<ChainInfo> ApplyLocked(const ChainSpec& spec, bool dry_run, bool* changed);
  Status CreateRoot(const std::string& chain);
  Status LoadDetachedEntry(const ChainSpec& spec, const Generation& gen, bool pin, bool fresh);
  Status SyncAttachments(const ChainSpec& spec, const Chain* current);
  Status DeleteLocked(const std::string& name);
  Status AttachEntry(const ChainSpec& spec, const InterfaceSpec& iface);
  Status DetachEntry(const std::string& chain, const std::string& ifname);
  Status SaveState(const Chain& chain) const;
  Status RemoveState(const std::string& name) const;
  Status Adopt(const std::string& name, Chain chain);
  ChainInfo Describe(const Chain& chain) const;
  VnfInstanceInfo InstanceInfo(const std::string& chain, const VnfSpec& vnf, uint32_t slot) const;

  Options options_;
  const VnfRegistry& registry_;
  PinLayout pins_;
  std::mutex mu_;
  std::map<std::string, Chain, std::less<>> chains_;
};

}  // namespace sfc
