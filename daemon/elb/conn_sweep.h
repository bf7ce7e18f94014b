// Closed TCP connections leave the connection table. The data plane marks an
// entry closed when it sees FIN from both sides (DSR: the client's FIN) or an
// RST, and stamps the time; sfcd sweeps the table and removes entries closed
// and quiet for the close timeout, with their reverse-NAT entries. Until then
// late segments of the connection (a retransmitted FIN, the last ACK) still
// reach its backend, and a new connection on the same tuple replaces the
// entry at its SYN anyway (see bpf/elb/elb.h), so the timeout only bounds how
// long dead connections occupy the table.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "common/status.h"
#include "elb/elb.h"

namespace sfc::elb {

// Whether `c` is closed and was quiet for `timeout_ns` at `now_ns` (both
// CLOCK_MONOTONIC, the data plane's clock). A stamp later than `now_ns` (a
// packet on another CPU since we read the clock) is not quiet.
inline bool ClosedAndQuiet(const elb_conn& c, uint64_t now_ns, uint64_t timeout_ns) {
  return (c.state & ELB_CONN_F_CLOSED) && now_ns > c.seen_ns && now_ns - c.seen_ns >= timeout_ns;
}

// The reverse-NAT key of connection `key` (client -> VIP:port) on `backend`:
// the reply's tuple, as the data plane writes it.
inline elb_flow_key ReverseKeyOf(const elb_flow_key& key, const elb_backend& backend) {
  elb_flow_key rk{};
  std::memcpy(rk.saddr, backend.addr, sizeof(rk.saddr));
  std::memcpy(rk.daddr, key.saddr, sizeof(rk.daddr));
  rk.sport = backend.port ? backend.port : key.dport;
  rk.dport = key.sport;
  rk.proto = key.proto;
  rk.family = key.family;
  return rk;
}

struct SweepResult {
  uint64_t scanned = 0;   // entries read
  uint64_t removed = 0;   // closed connections removed
  uint32_t capacity = 0;  // the map's max_entries
};

// One pass over the `conntrack` map pinned in `pin_dir`.
Result<SweepResult> SweepClosedConnections(const std::string& pin_dir, uint64_t now_ns,
                                           uint64_t timeout_ns);

}  // namespace sfc::elb
