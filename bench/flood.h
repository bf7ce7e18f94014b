// Small-packet load: an in-kernel generator (BPF_PROG_TEST_RUN with
// BPF_F_TEST_XDP_LIVE_FRAMES, one thread per CPU, in the client namespace)
// and XDP sinks on the servers that count what the SFC host delivered.
//
// On veth everything a frame causes runs on the CPU that sent it: the
// generator's transmit schedules the SFC host's veth NAPI on the same CPU,
// whose forwarding (XDP redirect or the kernel stack) transmits into the
// server's veth, whose NAPI runs there again. So the CPUs the generator
// threads are pinned to are the CPUs the whole path may use: "the SFC host
// limited to N CPUs" means N generator threads on N CPUs.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace sfc::bench {

struct FloodOptions {
  std::string client_ns, client_dev = "eth0";
  std::vector<std::pair<std::string, std::string>> sinks;  // (namespace, device)
  std::string src_mac, dst_mac, src_ip, dst_ip;
  uint16_t dst_port = 9;
  uint32_t frame_size = 64;  // Ethernet frame without FCS
  uint32_t flows = 256;
  // When not empty: every other frame comes from one of these sources, in
  // turn, instead of src_ip (the rule-scaling runs aim half the load at a
  // blocklist this way). At most BENCH_GEN_MAX_FRAMES / 2.
  std::vector<std::string> mix_src;
  std::vector<int> cpus = {0};
  double warmup_s = 0.5;
  double seconds = 3;
};

// Runs the load for warmup_s + seconds and returns the measured window:
// {"generated": n, "delivered": n, "seconds": s, "offered_pps": x, "pps": x,
//  "bits_per_s": x, "cpu": {"user": j, "system": j, "softirq": j, ...}}.
Result<nlohmann::json> RunFlood(const FloodOptions& options);

}  // namespace sfc::bench
