// The chain engine: builds chains from specs, switches them atomically, and
// owns every change to the data plane. The pins are the source of truth for
// what runs; the engine adds the desired state (saved specs) and the locking.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/attachment.h"
#include "engine/bpf_util.h"
#include "engine/chain_spec.h"
#include "engine/generation.h"
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
    // Filled on request; empty when the chain has no latency map (no VNFs,
    // or pinned by an sfcd without histograms).
    std::optional<LatencyHistogram> latency;
  };
  std::vector<Vnf> vnfs;
  bool timing = false;  // the chain records run_ns and latency
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
    // Accept a bpffs the host does not see (see engine/bpffs.h).
    bool allow_private_bpffs = false;
  };

  ChainEngine(Options options, const VnfRegistry& registry);
  ChainEngine(const ChainEngine&) = delete;
  ChainEngine& operator=(const ChainEngine&) = delete;

  // Creates the directories, then adopts what is pinned and reconciles it
  // with the saved specs: a chain whose Apply was cut short by a crash ends up
  // as its saved spec says. Never detaches a working chain.
  Status Start();

  // Makes the chain match `spec`. *changed is false when it already did.
  // All or nothing: on error, packets, pins, attachments and the saved spec
  // are as they were before the call; on success the spec is saved.
  // `expected_generation`, when set, must equal the chain's generation (0:
  // the chain must not exist) or the call fails with FAILED_PRECONDITION and
  // changes nothing; it is checked under the engine's lock, so of two
  // callers expecting the same generation at most one changes the chain.
  Result<ChainInfo> Apply(const ChainSpec& spec, bool dry_run, bool* changed,
                          std::optional<uint64_t> expected_generation = std::nullopt);
  // `expected_generation` as for Apply (a chain that does not exist is NOT_FOUND).
  Status Delete(std::string_view name, std::optional<uint64_t> expected_generation = std::nullopt);
  Result<ChainInfo> Get(std::string_view name);
  std::vector<ChainInfo> List();
  // Counters of the chain and its VNFs (only `vnf` when not empty), with
  // each VNF's latency histogram when `latency` is set.
  Result<ChainCounters> Counters(std::string_view chain, std::string_view vnf = {},
                                 bool latency = false);

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
  // Every running instance, without its config (cheap: for /metrics).
  std::vector<VnfInstanceInfo> InstanceInfos();
  // Names of the chains, sorted.
  std::vector<std::string> ChainNames();

  const PinLayout& pins() const { return pins_; }
  const VnfRegistry& registry() const { return registry_; }

 private:
  struct Chain {
    ChainSpec spec;
    uint64_t generation = 0;
    std::chrono::system_clock::time_point applied_at;
  };
  class Transaction;

  Status CheckSystem(const ChainSpec& spec) const;
  Status CheckGeneration(const std::string& name, std::optional<uint64_t> expected) const;
  // `rebuild`: make a new generation even when the spec has not changed (a
  // chain whose data plane does not match its saved spec).
  Result<ChainInfo> ApplyLocked(const ChainSpec& spec, bool dry_run, bool rebuild, bool* changed);
  Status CreateChainMaps(const std::string& chain);
  Status SwitchRoot(const std::string& chain, const Generation& gen, Transaction& txn);
  Status SyncAttachments(const ChainSpec& spec, const Chain* current, Transaction& txn);
  Status DeleteLocked(const std::string& name);
  Status SaveState(const Chain& chain) const;
  Status RemoveState(const std::string& name) const;
  Status Adopt(const std::string& name, Chain saved);
  Result<uint64_t> LiveGeneration(const std::string& name);
  void RemoveLeftovers(const ChainSpec& spec);
  void RunUpHooks(const ChainSpec& spec, const ChainSpec* previous);
  ChainInfo Describe(const Chain& chain) const;
  VnfInstanceInfo InstanceInfo(const std::string& chain, const VnfSpec& vnf, uint32_t slot) const;

  Options options_;
  const VnfRegistry& registry_;
  PinLayout pins_;
  Attacher attacher_;
  std::mutex mu_;
  std::map<std::string, Chain, std::less<>> chains_;
};

}  // namespace sfc
