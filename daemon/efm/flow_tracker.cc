#include "efm/flow_tracker.h"

#include <algorithm>

#include <netinet/in.h>

#include <sfc/abi.h>

namespace sfc::efm {

void FlowTracker::BeginScan(uint64_t now_ns, uint64_t flows_created, bool final) {
  in_scan_ = true;
  final_ = final;
  ++scan_;
  now_ns_ = now_ns;
  read_ns_ = now_ns;
  created_at_begin_ = flows_created;
}

uint64_t FlowTracker::PendingStart(const Tracked& t, const FlowCounters& now) {
  if (now.packets - t.exported_packets == 1) return now.last_seen_ns;
  return std::min(t.observed_ns, now.last_seen_ns);
}

void FlowTracker::Emit(const FlowKey& key, const Tracked& t, const FlowCounters& upto,
                       EndReason reason, std::vector<FlowRecord>* out) {
  if (upto.packets <= t.exported_packets) return;  // nothing new since the last record
  FlowRecord r;
  r.key = key;
  r.packets = upto.packets - t.exported_packets;
  r.bytes = upto.bytes - t.exported_bytes;
  r.start_ns = t.record_start_ns ? t.record_start_ns : PendingStart(t, upto);
  r.end_ns = std::max(upto.last_seen_ns, r.start_ns);
  r.tcp_flags = upto.tcp_flags;
  r.app = upto.app;
  r.app_category = upto.app_category;
  r.reason = reason;
  totals_.records++;
  totals_.packets += r.packets;
  totals_.bytes += r.bytes;
  out->push_back(r);
}

void FlowTracker::Forget(const FlowKey& key, const Tracked& t) {
  if (store_ && t.persisted) store_->Erase(key);
}

void FlowTracker::Restore(const FlowKey& key, const FlowCounters& c, Tracked* t) {
  if (!store_ || !first_scan_) return;  // later flows are younger than this daemon
  std::optional<SavedExport> saved = store_->Load(key);
  if (!saved) return;
  if (saved->first_seen_ns != c.first_seen_ns || saved->packets > c.packets) {
    store_->Erase(key);  // belongs to an entry that is gone
    return;
  }
  t->exported_packets = saved->packets;
  t->exported_bytes = saved->bytes;
  t->persisted = true;
  if (c.packets == saved->packets) {
    t->record_start_ns = 0;
  } else if (c.packets - saved->packets == 1) {
    t->record_start_ns = c.last_seen_ns;
  } else {
    t->record_start_ns = std::max(saved->cut_ns, c.first_seen_ns);
  }
}

std::optional<EndReason> FlowTracker::Observe(const FlowKey& key, const FlowCounters& c,
                                              std::vector<FlowRecord>* out) {
  auto [it, fresh] = flows_.try_emplace(key);
  Tracked& t = it->second;

  if (!fresh && (c.first_seen_ns != t.last.first_seen_ns || c.packets < t.last.packets)) {
    // The entry we knew was evicted and the flow came back as a new entry.
    Emit(key, t, t.last, EndReason::kLackOfResources, out);
    Forget(key, t);
    t = Tracked{};
    fresh = true;
  }

  if (fresh) {
    t.record_start_ns = c.first_seen_ns;
    Restore(key, c, &t);
    const uint64_t age = read_ns_ > c.first_seen_ns ? read_ns_ - c.first_seen_ns : 0;
    // A flow younger than a second gets its rate over one second, not over
    // the microseconds since its first packet.
    const double secs = std::max<double>(age, 1e9) / 1e9;
    t.bytes_per_s = static_cast<float>(c.bytes / secs);
    t.packets_per_s = static_cast<float>(c.packets / secs);
  } else {
    if (t.record_start_ns == 0 && c.packets > t.exported_packets)
      t.record_start_ns = PendingStart(t, c);
    if (read_ns_ > t.observed_ns) {
      const double secs = static_cast<double>(read_ns_ - t.observed_ns) / 1e9;
      t.bytes_per_s = static_cast<float>((c.bytes - t.last.bytes) / secs);
      t.packets_per_s = static_cast<float>((c.packets - t.last.packets) / secs);
    }
  }
  t.last = c;
  t.observed_ns = read_ns_;
  t.seen_scan = scan_;

  if (final_) return EndReason::kForcedEnd;
  const uint64_t quiet = now_ns_ > c.last_seen_ns ? now_ns_ - c.last_seen_ns : 0;
  if (quiet >= config_.idle_timeout_ns) return EndReason::kIdleTimeout;
  if (key.proto == IPPROTO_TCP && (c.tcp_flags & (SFC_TCP_FIN | SFC_TCP_RST)) &&
      quiet >= std::min(config_.tcp_end_linger_ns, config_.idle_timeout_ns))
    return EndReason::kEndOfFlow;
  if (t.record_start_ns != 0 &&
      now_ns_ - std::min(now_ns_, t.record_start_ns) >= config_.active_timeout_ns) {
    Emit(key, t, c, EndReason::kActiveTimeout, out);
    t.exported_packets = c.packets;
    t.exported_bytes = c.bytes;
    t.record_start_ns = 0;
    if (store_) {
      store_->Save(key, SavedExport{c.first_seen_ns, c.packets, c.bytes, read_ns_});
      t.persisted = true;
    }
  }
  return std::nullopt;
}

void FlowTracker::Taken(const FlowKey& key, const FlowCounters* taken, EndReason reason,
                        std::vector<FlowRecord>* out) {
  auto it = flows_.find(key);
  if (it == flows_.end()) return;  // not observed: nothing we could account
  Tracked& t = it->second;
  if (taken == nullptr) {
    // Evicted between our read and the delete.
    Emit(key, t, t.last, EndReason::kLackOfResources, out);
  } else {
    ++removed_;
    if (taken->first_seen_ns != t.last.first_seen_ns || taken->packets < t.last.packets) {
      // Evicted and re-created between our read and the delete: two flows.
      Emit(key, t, t.last, EndReason::kLackOfResources, out);
      Tracked fresh;
      fresh.record_start_ns = taken->first_seen_ns;
      Emit(key, fresh, *taken, reason, out);
    } else {
      Emit(key, t, *taken, reason, out);
    }
  }
  Forget(key, t);
  flows_.erase(it);
}

void FlowTracker::EndScan(std::vector<FlowRecord>* out) {
  if (!in_scan_) return;
  in_scan_ = false;
  uint64_t live = 0;
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (it->second.seen_scan == scan_) {
      ++live;
      ++it;
      continue;
    }
    Emit(it->first, it->second, it->second.last, EndReason::kLackOfResources, out);
    Forget(it->first, it->second);
    it = flows_.erase(it);
  }
  const int64_t unexplained = static_cast<int64_t>(created_at_begin_) -
                              static_cast<int64_t>(removed_) - static_cast<int64_t>(live);
  if (!have_base_) {
    // Whatever the table lost before we first looked is not ours to report.
    unexplained_base_ = unexplained;
    have_base_ = true;
  }
  const int64_t evicted = unexplained - unexplained_base_;
  if (evicted > 0) totals_.evictions = std::max<uint64_t>(totals_.evictions, evicted);
  totals_.active_flows = live;
  totals_.scans++;
  first_scan_ = false;
}

void FlowTracker::Reset() {
  flows_.clear();
  first_scan_ = true;
  in_scan_ = false;
  removed_ = 0;
  have_base_ = false;
  unexplained_base_ = 0;
  totals_.active_flows = 0;
}

}  // namespace sfc::efm
