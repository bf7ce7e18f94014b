// Random frames for robustness tests of packet parsers: well-formed frames of
// random shape (0-3 VLAN tags of either TPID, IPv4 with options, IPv6 with
// extension-header chains, first and later fragments, TCP/UDP/ICMP/other,
// 14 to 9,000 bytes), and the same frames truncated, bit-flipped or with
// bogus length fields (ihl, tot_len, payload_len, TCP doff, UDP length,
// extension-header length). Deterministic for a given seed.
//
//   FrameTorture torture(seed);
//   for (int i = 0; i < n; ++i) {
//     TortureFrame f = torture.Next();
//     auto run = RunXdp(prog_fd, f.bytes);  // ... << f.recipe on failure
//   }
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/packet.h"

namespace sfc::test {

struct TortureFrame {
  Bytes bytes;
  // How the frame was made, for failure messages ("v6 ext[0,44] udp 120B; flip@54.3").
  std::string recipe;
  bool mutated = false;
};

class FrameTorture {
 public:
  explicit FrameTorture(uint64_t seed) : rng_(seed) {}

  // Address pools frames draw from. Defaults: 10.0.0.1-10.0.0.9 and fd00::1-fd00::9.
  void SetAddresses(std::vector<std::string> v4, std::vector<std::string> v6);
  // Percentage of frames Next() mutates (default 70).
  void SetMutatePercent(int percent) { mutate_percent_ = percent; }

  // A well-formed frame of random shape, or (mutate_percent of the time) one
  // mutated one to three ways.
  TortureFrame Next();
  // A well-formed frame of random shape, never mutated.
  TortureFrame Valid();

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Chance(int percent) { return Pick(100) < percent; }

 private:
  // Where the headers of a frame built by Valid() sit, for targeted mutations.
  struct Layout {
    size_t l3_off = 0, l4_off = 0;  // 0: no such header
    int family = 0;                 // 4, 6, or 0 for non-IP
    uint8_t proto = 0;              // L4 protocol number
    std::vector<size_t> ext_offs;   // IPv6 extension headers (not fragment headers)
  };

  TortureFrame Build(Layout* layout);
  void Mutate(TortureFrame& f, const Layout& layout);
  void FlipBits(TortureFrame& f);
  void Truncate(TortureFrame& f, const Layout& layout);
  void BogusLength(TortureFrame& f, const Layout& layout);
  size_t PayloadSize();
  uint16_t RandomLength16();

  std::mt19937_64 rng_;
  int mutate_percent_ = 70;
  std::vector<std::string> v4_ = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5",
                                  "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9"};
  std::vector<std::string> v6_ = {"fd00::1", "fd00::2", "fd00::3", "fd00::4", "fd00::5",
                                  "fd00::6", "fd00::7", "fd00::8", "fd00::9"};
};

}  // namespace sfc::test
