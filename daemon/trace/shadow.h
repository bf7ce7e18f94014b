// A packet trace's run: a private copy of a chain's live generation, one
// frame through it with BPF_PROG_TEST_RUN, and what each stage decided.
//
// The copy is built by the engine's own generation code from the chain's
// saved spec (the same objects, read-only data and sizes as the live
// generation), with every map new: the VNFs' maps are filled with a copy of
// the live pinned maps' entries (rules, connection tracking, flows, load
// balancer tables and connections), the chain-level maps (packet context,
// counters, prog array, monitor) are the copy's own. The copy's monitor is
// on for every stage, so its ring buffer holds each stage's verdict and
// reason. Live maps are only read: counters, connection tracking, flows and
// connections are exactly as they were, while live traffic keeps flowing.
//
// Cost: the copy loads the chain's programs (the verifier) and reads every
// entry of every live table once, batched, and the tables the packet may
// change (hash tables) a second time after the run (docs/api.md has the
// measurement). Inner maps of
// map-in-map tables (the load balancer's Maglev tables) are shared, not
// copied: the data plane only reads them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <sfc/abi.h>
#include "common/status.h"
#include "engine/chain_engine.h"
#include "monitor/hub.h"
#include "trace/frame.h"

namespace sfc::trace {

struct StateChange {
  std::string vnf, map;
  bool created = false;
  std::string key, value;  // decoded through the map's BTF
};

struct TraceResult {
  std::string interface;
  uint32_t ifindex = 0;
  Bytes frame_in, frame_out;
  std::vector<monitor::Event> events;  // in stage order
  std::vector<StateChange> changes;
  uint32_t xdp_action = 0;  // what the chain returned
  std::string egress_interface;
  uint32_t egress_ifindex = 0;
  uint64_t entries_copied = 0;
  uint64_t copy_us = 0;   // copying the live tables
  uint64_t build_us = 0;  // the whole copy: objects loaded (verifier) and tables copied
  uint64_t run_us = 0;
};

// Runs `spec`'s frame through the live chain `chain`. NOT_FOUND for an
// unknown chain or interface; INVALID_ARGUMENT names the packet's problem.
Result<TraceResult> RunTrace(ChainEngine& engine, const std::string& chain, const PacketSpec& spec);

}  // namespace sfc::trace
