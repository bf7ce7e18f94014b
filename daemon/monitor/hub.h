// The daemon side of the drop and verdict monitor. The hub reads each
// watched chain's ring buffer (<chain>/events) on a thread of its own and
// fans the events out to its watchers, each through a bounded queue: a slow
// watcher loses its own events (counted), never anyone else's, and never
// slows the reader.
//
// A chain's monitor is on while it has at least one watcher, with the
// settings that serve them all (Merge()); each watcher filters its own. The
// last watcher leaving turns it off, and so does sfcd starting (a monitor
// left on by an sfcd that died).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sfc/abi.h>
#include "common/status.h"
#include "engine/chain_engine.h"
#include "monitor/maps.h"
#include "monitor/settings.h"

namespace sfc::monitor {

// One event with what the daemon knows about it.
struct Event {
  sfc_event raw{};
  int64_t unix_ns = 0;  // wall-clock time of the event
  std::string vnf;      // VNF name, "entry" or "egress"
  std::string vnf_type;
  std::string rule_id;  // for SFC_REASON_FW_RULE
};

struct WatchOptions {
  std::string vnf;  // empty: every stage
  Settings settings;
};

// One watcher's end: a bounded queue the hub fills and the watcher drains.
class Subscription {
 public:
  static constexpr size_t kQueueLimit = 4096;

  // Waits up to `timeout` for events; false when the subscription ended
  // (chain deleted, hub stopping) and nothing is left. `error` says why.
  bool Next(std::vector<Event>* out, std::chrono::milliseconds timeout);
  // Held back so far: the chain's data-plane counters since this watcher
  // started, and what this queue dropped.
  Counters lost() const;
  uint64_t slow_reader() const;
  const Status& end_status() const { return end_; }

 private:
  friend class Hub;
  Subscription(std::string chain, WatchOptions options, Counters base)
      : chain_(std::move(chain)), options_(std::move(options)), base_(base) {}
  void Push(const Event& ev);
  void SetCounters(const Counters& now);
  void End(Status why);

  const std::string chain_;
  const WatchOptions options_;
  const Counters base_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> queue_;
  Counters now_{};
  uint64_t slow_reader_ = 0;
  bool ended_ = false;
  Status end_ = Status::Ok();
};

class Hub {
 public:
  explicit Hub(ChainEngine& engine);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Turns off every chain's monitor (what an earlier sfcd may have left on).
  void ResetAll();
  // Starts watching `chain`: NOT_FOUND for an unknown chain or VNF,
  // FAILED_PRECONDITION for a chain whose entry predates the monitor.
  Result<std::shared_ptr<Subscription>> Subscribe(const std::string& chain,
                                                  const WatchOptions& options);
  void Unsubscribe(const std::shared_ptr<Subscription>& sub);
  // Ends every subscription and reader; monitors go off.
  void Stop();

 private:
  struct Tap;

  // The stage bits for the watchers' VNF names under the chain's current spec.
  Settings MergedFor(const Tap& tap);
  void Run(Tap* tap);
  static int OnEvent(void* ctx, void* data, size_t size);

  ChainEngine& engine_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Tap>> taps_;
};

}  // namespace sfc::monitor
