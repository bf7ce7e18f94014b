// Backend health: the rise/fall state machine (pure) and the prober that runs
// many TCP-connect or HTTP GET checks concurrently with one poll() loop.
// Neither needs privileges, so both are unit-tested against local listeners.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "elb/config.h"

namespace sfc::elb {

// Consecutive results move a backend between up and down: `rise` successes
// bring it up, `fall` failures take it down. A new backend starts up, so a
// freshly applied service forwards at once (its first probes can take it out).
class HealthTracker {
 public:
  explicit HealthTracker(bool up = true) : up_(up) {}
  // Returns true when the state flipped.
  bool Record(bool success, uint32_t rise, uint32_t fall);
  bool up() const { return up_; }
  uint32_t streak() const { return streak_; }  // consecutive results against the state
  uint64_t checks() const { return checks_; }
  uint64_t failures() const { return failures_; }

 private:
  bool up_ = true;
  uint32_t streak_ = 0;
  uint64_t checks_ = 0, failures_ = 0;
};

struct ProbeTarget {
  IpAddr address;
  uint16_t port = 0;
  HealthType type = HealthType::kTcp;
  std::string host;  // HTTP Host header; the address when empty
  std::string path = "/";
  uint32_t expect_status = 200;
  // This probe's own limit; 0: ProbeAll's.
  std::chrono::milliseconds timeout{0};
  // http: read the response headers for the backend's reported capacity.
  bool want_weight = false;
};

struct ProbeResult {
  bool ok = false;
  std::string error;  // why not: "connect: Connection refused", "status 503", "timeout"
  std::chrono::microseconds latency{0};
  // The backend's `Sfc-Weight: N` header (percent of its configured weight,
  // 0-100), when asked for and present.
  std::optional<uint32_t> weight_percent;
};

// Runs every probe at once; returns when all finished, each within its own
// timeout (or `timeout`); late ones fail with "timeout". Results are in the
// order of `targets`.
std::vector<ProbeResult> ProbeAll(std::span<const ProbeTarget> targets,
                                  std::chrono::milliseconds timeout);

// Parses "HTTP/1.x NNN ..." from the start of a response; 0 if not one.
uint32_t ParseHttpStatus(std::string_view response);
// The value of an `Sfc-Weight: N` (or `N%`) header in a response head, N in
// 0..100 (case-insensitive name); nullopt when absent or malformed.
std::optional<uint32_t> ParseWeightHeader(std::string_view head);

}  // namespace sfc::elb
