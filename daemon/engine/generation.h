// One generation of a chain: every program of the chain loaded (through the
// verifier), its config-derived tables filled and its maps pinned in a
// staging directory, all off to the side of the running chain. Nothing a
// Generation does before Commit() is visible to packets; destroying it
// uncommitted removes what it staged.
//
//   Generation gen(...);
//   gen.Prepare();          // load, populate, stage pins
//   ... root slot switched to gen.first_prog_fd() by the engine ...
//   gen.Commit();           // move staged pins in place (undone on failure)
//   gen.Finish();           // point of no return: drop replaced pins
// or, when a later step fails, gen.UndoCommit() + gen.Abandon().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "engine/chain_spec.h"
#include "engine/pin_layout.h"
#include "engine/vnf_module.h"

struct sfc_egress;

namespace sfc {

class Generation {
 public:
  // `current` is the spec of the running generation (nullptr for a new
  // chain): VNFs it shares with `spec` (same name and type) keep their state.
  Generation(const PinLayout& pins, const VnfRegistry& registry, ChainSpec spec,
             const ChainSpec* current, uint64_t number);
  // A private copy of a running chain for a packet trace (trace/shadow.h):
  // every map is new, nothing is pinned, no live map is written. Instead of
  // Populate(), `fill` gets each loaded VNF object and the names of its own
  // maps (all but the chain-level ones), to fill from the live instance.
  using ShadowFill = std::function<Status(const VnfSpec& vnf, bpf_object* obj,
                                          const std::vector<std::string>& maps)>;
  Generation(const PinLayout& pins, const VnfRegistry& registry, ChainSpec spec, ShadowFill fill);
  ~Generation();
  Generation(const Generation&) = delete;
  Generation& operator=(const Generation&) = delete;

  // Loads every program and fills the new prog array; `pin` stages the new
  // maps under <chain>/_gen<n> (a dry run stages nothing).
  Status Prepare(bool pin);

  // Moves the staged pins in place, the prog array last. On failure every
  // pin already moved is moved back before returning.
  Status Commit();
  // Puts the pins a successful Commit() replaced back in place.
  void UndoCommit();
  // The generation stays: removes the pins it replaced and those of maps and
  // VNFs it no longer has, and tells each VNF object it is live.
  void Finish();
  // The generation will never run (again): lets VNF objects undo what they
  // wrote into state they share with the running generation.
  void Abandon();

  uint64_t number() const { return number_; }
  const ChainSpec& spec() const { return spec_; }
  int first_prog_fd() const;
  int pktctx_fd() const { return pktctx_.get(); }
  int chain_stats_fd() const { return chain_stats_.get(); }
  int events_fd() const { return events_.get(); }
  int monitor_fd() const { return monitor_.get(); }
  int monitor_stats_fd() const { return monitor_stats_.get(); }
  // Shared maps that are not pinned yet (a new chain's, created by the egress
  // object; the monitor maps of a chain an older sfcd made) go in place.
  Status PinSharedMaps();

 private:
  Status OpenSharedMaps();
  Status LoadEgress();
  Status LoadVnf(size_t index);
  Status FillProgArray();
  Status StagePins();
  bool Stays(const VnfSpec& v) const;
  // Opens the chain's latency histograms when this generation keeps every
  // VNF in its slot; otherwise the first VNF object creates fresh ones.
  Status OpenLatency();

  struct NewMap {
    int fd;
    std::string vnf, name;
  };
  struct Move {
    std::string staged, final, backup;  // backup empty: nothing was replaced
    bool done = false;
  };

  const PinLayout& pins_;
  const VnfRegistry& registry_;
  const ChainSpec spec_;
  const std::unique_ptr<ChainSpec> current_;
  const uint64_t number_;
  const std::string staging_;
  const ShadowFill shadow_fill_;  // set: a trace's private copy
  bool committed_ = false;

  UniqueFd pktctx_, chain_stats_, progs_;
  UniqueFd latency_;  // <chain>/latency; empty until a VNF object has it
  bool latency_fresh_ = false;
  UniqueFd events_, monitor_, monitor_stats_;  // the drop and verdict monitor's
  struct EgressDeleter {
    void operator()(sfc_egress* s) const;
  };
  std::unique_ptr<sfc_egress, EgressDeleter> egress_;
  std::vector<std::unique_ptr<VnfObject>> vnfs_;
  std::vector<int> vnf_prog_fds_;
  std::vector<NewMap> new_maps_;
  std::vector<Move> moves_;
  std::vector<std::string> created_dirs_;  // by Commit(), for UndoCommit()
  std::set<std::string> final_maps_;       // every pin path the generation uses
};

}  // namespace sfc
