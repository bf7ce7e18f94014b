// Per-packet cost through BPF_PROG_TEST_RUN (ns/packet): bare XDP_PASS, the
// chain's entry alone, each VNF of the benchmark chain alone, the full chain
// (with a per-VNF split from the chain's own timing counters), eFW against
// rule count, eFM against flow-table size, eLB new against established.
//
// Every chain is loaded through the real chain engine, unattached, under a
// private bpffs root (tests/support/chain_fixture.h); the VNF configs come
// from the same chain file the end-to-end runs use.
//
// Two ways to time, named in every result:
//   "repeat"  one frame, `repeat` runs in one BPF_PROG_TEST_RUN, the kernel's
//             average; the frame is NOT restored between runs, so this is
//             only used where no program rewrites the frame.
//   "single"  many BPF_PROG_TEST_RUN calls of one run each (each starts from
//             the original frame, or walks a list of distinct frames), the
//             median of the kernel-measured durations. It includes the
//             kernel's timer overhead, so it is compared with XDP_PASS timed
//             the same way.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace sfc::bench {

struct MicroOptions {
  std::string chain_file;  // bench/chains/sfc.json: "10.NET." is replaced by 10.<net>.
  int net = 200;
  bool quick = false;      // smoke: no 100k/1M rules, no 1M flows, fewer samples
};

// Returns {"cases": [...], "options": {...}}. A case that cannot run (e.g. a
// VNF type not registered in this build) carries "error" instead of numbers.
Result<nlohmann::json> RunMicro(const MicroOptions& options);

}  // namespace sfc::bench
