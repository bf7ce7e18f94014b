// The public bpffs layout of sfc (docs/architecture.md). Every path the
// daemon pins or opens comes from here.
//
//   <root>/<chain>/progs              prog array of the live generation
//   <root>/<chain>/root               1-slot prog array the entry programs jump through
//   <root>/<chain>/stats              chain counters (struct sfc_chain_stats)
//   <root>/<chain>/pktctx             per-CPU parse result handed between stages
//   <root>/<chain>/config             what the entry reads per packet; the live generation
//   <root>/<chain>/latency            per-VNF latency histograms by slot (timed chains)
//   <root>/<chain>/events             ring buffer of the drop and verdict monitor
//   <root>/<chain>/monitor            the monitor's settings (off unless someone watches)
//   <root>/<chain>/monitor_stats      the monitor's counters (events, lost, rate-limited)
//   <root>/<chain>/entry-<ifname>     the entry program attached to <ifname>
//   <root>/<chain>/entry              the entry of a chain loaded unattached (tests)
//   <root>/<chain>/<vnf>/<map>        every map of a VNF instance; <vnf>/stats its counters
//   <root>/<chain>/_gen<n>/...        staging area of a generation being prepared
//
// bpffs refuses names with a dot, so staging uses a leading '_', which no
// chain or VNF name may start with.
#pragma once

#include <cstdint>
#include <string>

namespace sfc {

class PinLayout {
 public:
  explicit PinLayout(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string ChainDir(const std::string& chain) const { return root_ + "/" + chain; }
  std::string Progs(const std::string& chain) const { return ChainDir(chain) + "/progs"; }
  std::string Root(const std::string& chain) const { return ChainDir(chain) + "/root"; }
  std::string ChainStats(const std::string& chain) const { return ChainDir(chain) + "/stats"; }
  std::string PktCtx(const std::string& chain) const { return ChainDir(chain) + "/pktctx"; }
  std::string Config(const std::string& chain) const { return ChainDir(chain) + "/config"; }
  std::string Latency(const std::string& chain) const { return ChainDir(chain) + "/latency"; }
  std::string Events(const std::string& chain) const { return ChainDir(chain) + "/events"; }
  std::string Monitor(const std::string& chain) const { return ChainDir(chain) + "/monitor"; }
  std::string MonitorStats(const std::string& chain) const {
    return ChainDir(chain) + "/monitor_stats";
  }
  std::string Entry(const std::string& chain, const std::string& ifname) const {
    return ChainDir(chain) + "/entry-" + ifname;
  }
  // The entry of a chain loaded without attachments (tests, benchmarks).
  std::string DetachedEntry(const std::string& chain) const { return ChainDir(chain) + "/entry"; }
  std::string VnfDir(const std::string& chain, const std::string& vnf) const {
    return ChainDir(chain) + "/" + vnf;
  }
  std::string VnfMap(const std::string& chain, const std::string& vnf,
                     const std::string& map) const {
    return VnfDir(chain, vnf) + "/" + map;
  }
  static constexpr const char* kStagingPrefix = "_gen";
  std::string Staging(const std::string& chain, uint64_t generation) const {
    return ChainDir(chain) + "/" + kStagingPrefix + std::to_string(generation);
  }
  // Names a VNF may not take: they are chain-level pins.
  static bool IsReservedVnfName(const std::string& name) {
    return name == "progs" || name == "root" || name == "stats" || name == "pktctx" ||
           name == "config" || name == "latency" || name == "tx_port" || name == "entry" ||
           name == "events" || name == "monitor" || name == "monitor_stats" ||
           name.starts_with("entry-");
  }

 private:
  std::string root_;
};

}  // namespace sfc
