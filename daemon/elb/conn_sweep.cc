#include "elb/conn_sweep.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/fd.h"
#include "elb/maps.h"
#include "engine/bpf_util.h"

namespace sfc::elb {
namespace {

constexpr uint32_t kBatch = 4096;

struct ConnMaps {
  UniqueFd conntrack, reverse_nat, backends;
};

Result<ConnMaps> OpenConnMaps(const std::string& dir) {
  ConnMaps m;
  SFC_ASSIGN_OR_RETURN(m.conntrack, OpenPinned(dir + "/" + kConntrackMap));
  SFC_ASSIGN_OR_RETURN(m.reverse_nat, OpenPinned(dir + "/" + kReverseNatMap));
  SFC_ASSIGN_OR_RETURN(m.backends, OpenPinned(dir + "/" + kBackendsMap));
  return m;
}

// Removes a connection that `seen` showed closed and quiet, and its reverse
// entry. The entry is read again first: a SYN may have replaced it with a new
// connection since the batch read. (Between that read and the delete remains a
// window of a few microseconds; a new connection that loses its entry in it
// takes the same Maglev pick again at its next segment.)
bool RemoveIfStillClosed(const ConnMaps& m, const elb_flow_key& key, const elb_conn& seen,
                         uint64_t now_ns, uint64_t timeout_ns) {
  elb_conn now{};
  if (bpf_map_lookup_elem(m.conntrack.get(), &key, &now) != 0) return false;
  if (!ClosedAndQuiet(now, now_ns, timeout_ns) || now.backend_id != seen.backend_id ||
      now.slot != seen.slot)
    return false;
  elb_backend be{};
  uint32_t slot = now.slot;
  if (bpf_map_lookup_elem(m.backends.get(), &slot, &be) == 0 && be.id == now.backend_id) {
    // Only the reverse entry that translates back to this connection's VIP.
    elb_flow_key rk = ReverseKeyOf(key, be);
    elb_rnat rn{};
    if (bpf_map_lookup_elem(m.reverse_nat.get(), &rk, &rn) == 0 &&
        std::memcmp(rn.vip, key.daddr, sizeof(rn.vip)) == 0 && rn.vport == key.dport)
      bpf_map_delete_elem(m.reverse_nat.get(), &rk);
  }
  return bpf_map_delete_elem(m.conntrack.get(), &key) == 0;
}

}  // namespace

Result<SweepResult> SweepClosedConnections(const std::string& pin_dir, uint64_t now_ns,
                                           uint64_t timeout_ns) {
  SFC_ASSIGN_OR_RETURN(ConnMaps maps, OpenConnMaps(pin_dir));
  SweepResult result;
  SFC_ASSIGN_OR_RETURN(bpf_map_info info, MapInfo(maps.conntrack.get()));
  result.capacity = info.max_entries;
  std::vector<elb_flow_key> keys(kBatch);
  std::vector<elb_conn> values(kBatch);
  elb_flow_key batch_in{}, batch_out{};  // opaque cursor, at least a key in size
  for (bool first = true;; first = false) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int err = bpf_map_lookup_batch(maps.conntrack.get(), first ? nullptr : &batch_in, &batch_out,
                                   keys.data(), values.data(), &count, &opts);
    const bool done = err == -ENOENT;
    if (err && !done) return ErrnoStatus("reading " + pin_dir + "/" + kConntrackMap, -err);
    result.scanned += count;
    // The cursor has passed these entries' buckets: deleting them does not
    // disturb the iteration.
    for (uint32_t i = 0; i < count; i++)
      if (ClosedAndQuiet(values[i], now_ns, timeout_ns) &&
          RemoveIfStillClosed(maps, keys[i], values[i], now_ns, timeout_ns))
        result.removed++;
    if (done) return result;
    batch_in = batch_out;
  }
}

}  // namespace sfc::elb
