// Per-packet cost through BPF_PROG_TEST_RUN (ns/packet): the reference
// programs (bare XDP_PASS; a bare program running the project's parser), the
// chain's entry alone, each VNF of the benchmark chain alone, the full chain
// (with a per-VNF split from the chain's own timing counters), eFW against
// blocklist size with traffic aimed at the rules, eFM against flow-table
// size, eLB's first packet of a connection against an established one.
//
// Every chain is loaded through the real chain engine, unattached, under a
// private bpffs root (tests/support/chain_fixture.h); the VNF configs come
// from the same chain file the end-to-end runs use. Timed packets belong to
// flows the chain has already seen (each case sends its frames once before
// timing), except where a case measures first packets.
//
// Three ways to time, named in every result ("estimate_method"):
//   "repeat"  one frame, `repeat` runs in one BPF_PROG_TEST_RUN, the kernel's
//             average; the frame is NOT restored between runs, so this is
//             only used where no program rewrites the frame. The kernel's
//             timer is read once per call.
//   "repeat-mirrored"  repeat for chains with the load balancer, which
//             rewrites the frame: the timed chain also has mirror services
//             (each backend is a VIP whose backend is the original VIP), so
//             the runs alternate between two known connections, each one
//             rewritten (Micro::TimeMirrored).
//   "single"  many BPF_PROG_TEST_RUN calls of one run each (each starts from
//             the original frame, or walks a list of distinct frames). Each
//             duration includes one timer read, so the raw figures are
//             compared with a reference timed the same way, never with
//             repeat figures.
//   "single-corrected"  a single timing brought to the repeat scale: the
//             trimmed mean of the case, minus the trimmed mean of the bare
//             parse program run over the same frames the same way, plus that
//             program's repeat cost. Used for walks over distinct frames.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace sfc::bench {

struct MicroOptions {
  std::string chain_file;  // bench/chains/sfc.json: "10.NET." is replaced by 10.<net>.
  int net = 200;
  bool quick = false;  // smoke: fewer rule counts, no 1M flows, fewer samples
  int cpu = 0;         // every BPF_PROG_TEST_RUN runs on this CPU
  // Empty: every case. "dpi": the references (xdp_pass, parse_only) and the
  // dpi cases only.
  std::string only;
};

// Returns {"cases": [...], "options": {...}}. A case that cannot run (e.g. a
// VNF type not registered in this build) carries "error" instead of numbers.
Result<nlohmann::json> RunMicro(const MicroOptions& options);

}  // namespace sfc::bench
