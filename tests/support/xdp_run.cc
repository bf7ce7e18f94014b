#include "support/xdp_run.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>

namespace sfc::test {

Result<XdpRun> RunXdp(int prog_fd, const Bytes& frame, uint32_t ifindex, uint32_t repeat) {
  XdpRun run;
  // Room for programs that grow the frame (e.g. a reply longer than the request).
  run.out.resize(frame.size() + 512);
  xdp_md ctx_in = {};
  ctx_in.data_end = frame.size();
  ctx_in.ingress_ifindex = ifindex;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = run.out.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()),
              .data_size_out = static_cast<uint32_t>(run.out.size()), .ctx_in = &ctx_in,
              .ctx_size_in = sizeof(ctx_in), .repeat = static_cast<int>(repeat));
  int err = bpf_prog_test_run_opts(prog_fd, &opts);
  if (err) return ErrnoStatus("BPF_PROG_TEST_RUN", err);
  run.action = static_cast<int>(opts.retval);
  run.out.resize(opts.data_size_out);
  run.duration_ns = opts.duration;
  return run;
}

const char* XdpActionName(int action) {
  switch (action) {
    case XDP_ABORTED:
      return "XDP_ABORTED";
    case XDP_DROP:
      return "XDP_DROP";
    case XDP_PASS:
      return "XDP_PASS";
    case XDP_TX:
      return "XDP_TX";
    case XDP_REDIRECT:
      return "XDP_REDIRECT";
  }
  return "XDP_?";
}

}  // namespace sfc::test
