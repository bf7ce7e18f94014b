#include "efm/flow_query.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace sfc::efm {

Result<Prefix> ParsePrefix(const std::string& text) {
  Prefix p;
  std::string addr = text;
  int max_len = 0;
  std::optional<unsigned> len;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string l = text.substr(slash + 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(l.data(), l.data() + l.size(), v);
    if (l.empty() || ec != std::errc() || end != l.data() + l.size())
      return InvalidArgument("\"" + text + "\" is not a prefix (ADDRESS[/LEN])");
    len = v;
  }
  if (inet_pton(AF_INET, addr.c_str(), p.addr.data()) == 1) {
    p.family = 4;
    max_len = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), p.addr.data()) == 1) {
    p.family = 6;
    max_len = 128;
  } else {
    return InvalidArgument("\"" + text + "\" is not a prefix (ADDRESS[/LEN])");
  }
  if (len && *len > static_cast<unsigned>(max_len))
    return InvalidArgument("\"" + text + "\": prefix length above " + std::to_string(max_len));
  p.len = static_cast<uint8_t>(len.value_or(max_len));
  return p;
}

bool PrefixContains(const Prefix& p, int family, const uint32_t addr[4]) {
  if (p.family != family) return false;
  const auto* a = reinterpret_cast<const uint8_t*>(addr);
  const unsigned full = p.len / 8, rest = p.len % 8;
  if (std::memcmp(a, p.addr.data(), full) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (p.addr[full] & mask);
}

Result<SortBy> ParseSortBy(std::string_view text) {
  if (text.empty() || text == "bytes") return SortBy::kBytes;
  if (text == "packets") return SortBy::kPackets;
  if (text == "rate") return SortBy::kRate;
  return InvalidArgument("\"" + std::string(text) + "\" is not one of bytes, packets, rate");
}

bool Matches(const FlowQuery& q, const FlowView& v) {
  const FlowKey& k = v.key;
  if (q.proto && k.proto != *q.proto) return false;
  if (q.app && v.counters.app != *q.app) return false;
  if (q.port) {
    if (IsIcmp(k)) return false;
    if (SrcPort(k) != *q.port && DstPort(k) != *q.port) return false;
  }
  if (q.prefix && !PrefixContains(*q.prefix, k.family, k.saddr) &&
      !PrefixContains(*q.prefix, k.family, k.daddr))
    return false;
  return true;
}

bool FlowSelection::Better(const FlowView& a, const FlowView& b) const {
  double va = 0, vb = 0;
  switch (q_.sort) {
    case SortBy::kBytes:
      va = static_cast<double>(a.counters.bytes), vb = static_cast<double>(b.counters.bytes);
      break;
    case SortBy::kPackets:
      va = static_cast<double>(a.counters.packets), vb = static_cast<double>(b.counters.packets);
      break;
    case SortBy::kRate:
      va = a.bytes_per_s, vb = b.bytes_per_s;
      break;
  }
  if (va != vb) return va > vb;
  return std::memcmp(&a.key, &b.key, sizeof(a.key)) < 0;
}

void FlowSelection::Offer(const FlowView& v) {
  if (!Matches(q_, v)) return;
  ++matched_;
  auto worse_on_top = [this](const FlowView& a, const FlowView& b) { return Better(a, b); };
  if (q_.top == 0) {
    heap_.push_back(v);
    return;
  }
  if (heap_.size() < q_.top) {
    heap_.push_back(v);
    std::push_heap(heap_.begin(), heap_.end(), worse_on_top);
  } else if (Better(v, heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), worse_on_top);
    heap_.back() = v;
    std::push_heap(heap_.begin(), heap_.end(), worse_on_top);
  }
}

std::vector<FlowView> FlowSelection::Take() {
  std::sort(heap_.begin(), heap_.end(),
            [this](const FlowView& a, const FlowView& b) { return Better(a, b); });
  return std::move(heap_);
}

}  // namespace sfc::efm
