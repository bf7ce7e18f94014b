// The classifier: nDPI state for the flows the data plane is feeding, and the
// answer for each. Pure (no syscalls, no maps): the worker thread feeds it the
// ring buffer's records and writes its verdicts into the flow table; unit
// tests and the bench feed it crafted packets.
//
// Not thread-safe: one classifier belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dpi/dpi.h"

struct ndpi_detection_module_struct;
struct ndpi_flow_struct;

namespace sfc::dpi {

struct FlowKeyHash {
  size_t operator()(const dpi_flow_key& k) const;
};
struct FlowKeyEq {
  bool operator()(const dpi_flow_key& a, const dpi_flow_key& b) const;
};

// What the classifier concluded about a flow: what goes into its table entry.
struct Verdict {
  uint8_t state = DPI_PENDING;  // DPI_CLASSIFIED or DPI_GIVEN_UP
  uint8_t reason = DPI_GIVEUP_NONE;
  uint16_t app = 0;     // the most specific protocol nDPI named (app, else master)
  uint16_t master = 0;  // the master protocol when it differs from app ("TLS" under "Google")
  uint8_t category = 0;
};

struct ClassifierCounters {
  uint64_t packets = 0;     // records fed to nDPI
  uint64_t bytes = 0;       // their bytes
  uint64_t classified = 0;  // flows nDPI named
  uint64_t given_up = 0;    // flows that reached max_packets unnamed
  uint64_t evicted = 0;     // flows given up for room (max_classifying)
  uint64_t expired = 0;     // flows dropped idle, before their verdict
  uint64_t late = 0;        // records of flows without state (see Feed)
};

class Classifier {
 public:
  struct Options {
    uint32_t max_packets = DPI_DEFAULT_MAX_PACKETS;
    uint32_t max_flows = 8192;  // nDPI flow states at once
  };
  // The detection module is nDPI's with every protocol enabled.
  explicit Classifier(Options opts);
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // One record: `ip` holds cap_len bytes of the packet from its IP header on
  // (ip_len in the frame). Returns the flow's verdict when this packet
  // decided it. Flows evicted to make room are appended to *evicted.
  //
  // A flow starts with its first packet (seq 1). A later packet of a flow
  // without state is not classified (counted `late`): it was in the ring
  // buffer when its flow was decided, or its state is gone (evicted,
  // expired, or a restarted sfcd) and nDPI needs a flow's beginning.
  std::optional<Verdict> Feed(const dpi_event& ev, const uint8_t* ip,
                              std::vector<std::pair<dpi_flow_key, Verdict>>* evicted);

  // Drops the state of flows last fed before `before_ns` (the chain entry's
  // clock, as dpi_event.ts_ns); returns how many.
  size_t Expire(uint64_t before_ns);
  bool Tracking(const dpi_flow_key& key) const { return flows_.count(key) > 0; }
  size_t active() const { return flows_.size(); }
  const ClassifierCounters& counters() const { return counters_; }

 private:
  struct State {
    ndpi_flow_struct* flow = nullptr;
    uint64_t last_ns = 0;
    uint32_t packets = 0;
    std::list<dpi_flow_key>::iterator lru;  // position in lru_ (front: most recent)
  };
  using Map = std::unordered_map<dpi_flow_key, State, FlowKeyHash, FlowKeyEq>;

  Verdict GiveUp(State& s, uint8_t reason);
  void Erase(Map::iterator it);

  Options opts_;
  ndpi_detection_module_struct* mod_ = nullptr;
  Map flows_;
  std::list<dpi_flow_key> lru_;
  ClassifierCounters counters_;
  std::vector<uint8_t> buf_;
};

}  // namespace sfc::dpi
