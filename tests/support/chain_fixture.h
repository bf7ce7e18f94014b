// A whole chain (entry -> VNFs -> egress) loaded into the kernel through the
// real chain engine, but attached to nothing, under a private bpffs root.
// Frames go in through BPF_PROG_TEST_RUN on the entry program, so every tail
// call and map the chain uses is exercised exactly as on an interface.
//
//   auto chain = LoadedChain::Load(R"({"name": "t", "interfaces": ["lo"],
//       "vnfs": [{"name": "fw", "type": "firewall", "config": {...}}]})");
//   ASSERT_TRUE(chain.ok()) << chain.status().ToString();
//   auto run = (*chain)->Run(frame);
//   EXPECT_EQ(run->action, XDP_DROP);
//   auto counters = (*chain)->VnfCounters("fw");
//
// The destructor deletes the chain, its pins and its state directory.
// Besides the built-in VNF types, test chains may use "app_stamp"
// (support/app_stamp.h) to label packets with an application.
#pragma once

#include <memory>
#include <string>

#include <sfc/abi.h>
#include "common/fd.h"
#include "common/status.h"
#include "engine/chain_engine.h"
#include "support/xdp_run.h"

namespace sfc::test {

class LoadedChain {
 public:
  static Result<std::unique_ptr<LoadedChain>> Load(const std::string& spec_json);
  ~LoadedChain();

  // Runs the frame through the chain on CPU 0 (the test thread is pinned
  // there, so per-CPU values below are this run's).
  Result<XdpRun> Run(const Bytes& frame, uint32_t ifindex = 1, uint32_t repeat = 1);

  // Applies an edited spec to the same chain (same name), as sfcctl apply would.
  Status Reapply(const std::string& spec_json);

  const std::string& name() const { return name_; }
  // The engine's state directory (saved specs under chains/).
  const std::string& state_dir() const { return state_dir_; }
  ChainEngine& engine() { return *engine_; }
  std::string PinPath(const std::string& vnf, const std::string& map) const;
  Result<UniqueFd> OpenMap(const std::string& vnf, const std::string& map) const;
  int entry_fd() const { return entry_.get(); }

  // Counters by name, summed over CPUs.
  Result<uint64_t> ChainCounter(const std::string& counter);
  Result<uint64_t> VnfCounter(const std::string& vnf, const std::string& counter);
  // The parse result the entry program left for the last packet (CPU 0).
  Result<sfc_pkt> LastPacket() const;

 private:
  LoadedChain() = default;

  std::string name_, root_, state_dir_;
  std::unique_ptr<VnfRegistry> registry_;
  std::unique_ptr<ChainEngine> engine_;
  UniqueFd entry_;
};

// Moves the calling thread into a private network namespace laid out as a
// small routed network for the `fib` egress: in0 (10.9.1.1/24, fd00:9:1::1/64)
// receives; out0 (02:00:00:00:02:01; 10.9.2.1/24, fd00:9:2::1/64) leads to
// 10.9.2.2 and fd00:9:2::2 (permanent neighbour 02:00:00:00:02:02), while
// 10.9.2.3 has no neighbour; 10.9.3.0/24 is unreachable; forwarding is on.
// False (with a test failure) if the namespace cannot be set up.
bool EnterRoutedTestNetwork();

}  // namespace sfc::test
