// The benchmark's own XDP programs (bench/bpf/bench_xdp.bpf.c) behind RAII,
// plus the small system helpers sfc-bench needs: network namespaces, CPU
// pinning and /proc/stat sampling.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench_xdp.h"
#include "bench_xdp.skel.h"
#include "common/fd.h"
#include "common/status.h"

namespace sfc::bench {

struct SkelDeleter {
  void operator()(sfc_bench_xdp* s) const { sfc_bench_xdp__destroy(s); }
};
using BenchSkel = std::unique_ptr<sfc_bench_xdp, SkelDeleter>;

struct BenchProgOptions {
  uint32_t gen_flows = 1;
  uint16_t gen_base_port = 10000;
  uint16_t sink_port = 9;
  // The generator's header templates, used in turn (each frame's first
  // BENCH_GEN_HEADER_LEN bytes, with a valid IPv4 checksum); empty for other uses.
  std::vector<std::vector<uint8_t>> gen_frames;
  // bench_redirect's rewrite: "aa:bb:cc:dd:ee:ff", or empty for other uses.
  std::string redirect_dst_mac, redirect_src_mac;
};

// Opens and loads a fresh copy of the object (its own maps).
Result<BenchSkel> LoadBenchProgs(const BenchProgOptions& options);

// Points bench_redirect at `ifindex` (its devmap's only slot).
Status SetRedirectPort(const sfc_bench_xdp& skel, uint32_t ifindex);

// An XDP program attached through a bpf_link (native mode): detached when
// this object goes away, or when the process dies, however it dies.
class XdpLink {
 public:
  static Result<XdpLink> Attach(int prog_fd, const std::string& dev);
  const std::string& dev() const { return dev_; }

 private:
  XdpLink(UniqueFd fd, std::string dev) : fd_(std::move(fd)), dev_(std::move(dev)) {}
  UniqueFd fd_;
  std::string dev_;
};

// The `counters` map summed over CPUs.
Result<bench_counters> ReadCounters(const sfc_bench_xdp& skel);

// Enters a named network namespace (/run/netns/NAME) for the calling thread
// and returns to the previous one when destroyed.
class NetnsGuard {
 public:
  static Result<std::unique_ptr<NetnsGuard>> Enter(const std::string& name);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  NetnsGuard() = default;
  UniqueFd previous_;
};

Status PinThreadToCpu(int cpu);

// Jiffies per class, summed over a set of CPUs (/proc/stat "cpuN" lines).
struct CpuTimes {
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  uint64_t busy() const { return user + nice + system + irq + softirq + steal; }
  uint64_t total() const { return busy() + idle + iowait; }
};
Result<CpuTimes> ReadCpuTimes(const std::vector<int>& cpus);
CpuTimes operator-(const CpuTimes& a, const CpuTimes& b);

// "0,1" or "0-1" -> {0, 1}.
Result<std::vector<int>> ParseCpuList(const std::string& text);

}  // namespace sfc::bench
