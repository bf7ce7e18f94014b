// Runs an XDP program on one frame through BPF_PROG_TEST_RUN.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "support/packet.h"

namespace sfc::test {

struct XdpRun {
  int action = -1;       // XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT, ...
  Bytes out;             // the frame as the program left it
  uint32_t duration_ns;  // average per run, when repeat > 1
};

// `ifindex` is the ingress interface the program sees (must exist; 1 = lo).
Result<XdpRun> RunXdp(int prog_fd, const Bytes& frame, uint32_t ifindex = 1, uint32_t repeat = 1);

const char* XdpActionName(int action);

}  // namespace sfc::test
