#include "dpi/classifier.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include <ndpi_api.h>

namespace sfc::dpi {
namespace {

// FNV-1a over the key's bytes (it has no padding holes: pad is zero).
size_t HashBytes(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return static_cast<size_t>(h);
}

// nDPI's answer in our terms: `app` is the most specific protocol it named.
Verdict FromNdpi(ndpi_detection_module_struct* mod, ndpi_protocol p, uint8_t state,
                 uint8_t reason) {
  Verdict v;
  v.state = state;
  v.reason = reason;
  v.app = p.app_protocol != NDPI_PROTOCOL_UNKNOWN ? p.app_protocol : p.master_protocol;
  v.master = p.app_protocol != NDPI_PROTOCOL_UNKNOWN && p.master_protocol != p.app_protocol
                 ? p.master_protocol
                 : 0;
  ndpi_protocol_category_t cat = p.category;
  if (cat == NDPI_PROTOCOL_CATEGORY_UNSPECIFIED && v.app != 0)
    cat = ndpi_get_proto_category(mod, p);
  v.category = static_cast<uint8_t>(cat);
  return v;
}

}  // namespace

size_t FlowKeyHash::operator()(const dpi_flow_key& k) const { return HashBytes(&k, sizeof(k)); }
bool FlowKeyEq::operator()(const dpi_flow_key& a, const dpi_flow_key& b) const {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

Classifier::Classifier(Options opts) : opts_(opts), buf_(DPI_SNAP_MAX) {
  mod_ = ndpi_init_detection_module(ndpi_no_prefs);
  if (mod_ != nullptr) {
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(mod_, &all);
    ndpi_finalize_initialization(mod_);
  }
  flows_.reserve(std::min<uint32_t>(opts_.max_flows, 65536));
}

Classifier::~Classifier() {
  while (!flows_.empty()) Erase(flows_.begin());
  if (mod_ != nullptr) ndpi_exit_detection_module(mod_);
}

void Classifier::Erase(Map::iterator it) {
  ndpi_free_flow(it->second.flow);
  lru_.erase(it->second.lru);
  flows_.erase(it);
}

Verdict Classifier::GiveUp(State& s, uint8_t reason) {
  uint8_t guessed = 0;
  // No guessing by port or address: a flow nDPI did not recognise stays
  // Unknown rather than being named after the port it happens to use.
  ndpi_protocol p = ndpi_detection_giveup(mod_, s.flow, /*enable_guess=*/0, &guessed);
  return FromNdpi(mod_, p, DPI_GIVEN_UP, reason);
}

std::optional<Verdict> Classifier::Feed(const dpi_event& ev, const uint8_t* ip,
                                        std::vector<std::pair<dpi_flow_key, Verdict>>* evicted) {
  if (mod_ == nullptr) return std::nullopt;
  auto it = flows_.find(ev.key);
  if (ev.seq == 1) {
    // A new flow, or a table entry made anew for a key we still track (the
    // BPF entry was evicted and the flow came back): start over.
    if (it != flows_.end()) Erase(it);
    if (flows_.size() >= opts_.max_flows && !lru_.empty()) {
      auto victim = flows_.find(lru_.back());
      evicted->emplace_back(victim->first, GiveUp(victim->second, DPI_GIVEUP_EVICTED));
      counters_.evicted++;
      Erase(victim);
    }
    auto* flow = static_cast<ndpi_flow_struct*>(ndpi_flow_malloc(SIZEOF_FLOW_STRUCT));
    if (flow == nullptr) return std::nullopt;
    std::memset(flow, 0, SIZEOF_FLOW_STRUCT);
    lru_.push_front(ev.key);
    it = flows_.emplace(ev.key, State{flow, ev.ts_ns, 0, lru_.begin()}).first;
  } else if (it == flows_.end()) {
    counters_.late++;
    return std::nullopt;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  State& s = it->second;
  s.last_ns = ev.ts_ns;
  s.packets++;
  counters_.packets++;
  counters_.bytes += ev.cap_len;

  size_t len = std::min<size_t>(ev.cap_len, buf_.size());
  std::memcpy(buf_.data(), ip, len);
  // A packet cut at snap_bytes: make its IP length say so, or nDPI takes the
  // datagram for malformed and skips it. It then sees the payload's first
  // bytes, which is where protocols identify themselves.
  if ((ev.flags & DPI_EV_F_TRUNCATED) != 0) {
    if (ev.key.family == 4 && len >= 20) {
      const uint16_t tot = htons(static_cast<uint16_t>(len));
      std::memcpy(&buf_[2], &tot, sizeof(tot));
    } else if (ev.key.family == 6 && len >= 40) {
      const uint16_t pl = htons(static_cast<uint16_t>(len - 40));
      std::memcpy(&buf_[4], &pl, sizeof(pl));
    }
  }
  ndpi_protocol p = ndpi_detection_process_packet(
      mod_, s.flow, buf_.data(), static_cast<unsigned short>(len), ev.ts_ns / 1000000);
  std::optional<Verdict> out;
  if (p.app_protocol != NDPI_PROTOCOL_UNKNOWN || p.master_protocol != NDPI_PROTOCOL_UNKNOWN) {
    out = FromNdpi(mod_, p, DPI_CLASSIFIED, DPI_GIVEUP_NONE);
    counters_.classified++;
  } else if (s.packets >= opts_.max_packets || ev.seq >= opts_.max_packets) {
    out = GiveUp(s, DPI_GIVEUP_PACKETS);
    if (out->app != 0) {
      // nDPI named it from what it saw after all (giveup looks at partial
      // matches, e.g. a DNS exchange it saw only one side of).
      out->state = DPI_CLASSIFIED;
      out->reason = DPI_GIVEUP_NONE;
      counters_.classified++;
    } else {
      counters_.given_up++;
    }
  }
  if (out) Erase(it);
  return out;
}

size_t Classifier::Expire(uint64_t before_ns) {
  size_t n = 0;
  while (!lru_.empty()) {
    auto it = flows_.find(lru_.back());
    if (it->second.last_ns >= before_ns) break;
    Erase(it);
    ++n;
  }
  counters_.expired += n;
  return n;
}

}  // namespace sfc::dpi
