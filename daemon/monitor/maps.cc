#include "monitor/maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <filesystem>
#include <vector>

#include "engine/bpf_util.h"

namespace sfc::monitor {
namespace fs = std::filesystem;

namespace {

// Whether the program reads the map: its map ids say.
bool ProgUsesMap(int prog_fd, uint32_t map_id) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return false;
  std::vector<uint32_t> ids(info.nr_map_ids);
  uint32_t n = info.nr_map_ids;
  info = {};
  info.nr_map_ids = n;
  info.map_ids = reinterpret_cast<uint64_t>(ids.data());
  len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return false;
  for (uint32_t i = 0; i < std::min(n, info.nr_map_ids); ++i)
    if (ids[i] == map_id) return true;
  return false;
}

}  // namespace

Result<ChainMonitorMaps> ChainMonitorMaps::Open(const PinLayout& pins, const std::string& chain) {
  ChainMonitorMaps m;
  SFC_ASSIGN_OR_RETURN(m.events_, OpenPinned(pins.Events(chain)));
  SFC_ASSIGN_OR_RETURN(m.config_, OpenPinned(pins.Monitor(chain)));
  SFC_ASSIGN_OR_RETURN(m.stats_, OpenPinned(pins.MonitorStats(chain)));
  SFC_ASSIGN_OR_RETURN(bpf_map_info info, MapInfo(m.config_.get()));
  // The entry programs copy the mode into every packet: one that predates
  // the monitor never turns it on.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pins.ChainDir(chain), ec)) {
    std::string f = entry.path().filename();
    if (f != "entry" && !f.starts_with("entry-")) continue;
    auto fd = OpenPinned(entry.path());
    if (fd.ok() && !ProgUsesMap(fd->get(), info.id))
      return FailedPrecondition("chain \"" + chain + "\" runs an entry program (" + f +
                                ") from an sfcd without the monitor; delete the chain and "
                                "apply it again to use sfcctl monitor");
  }
  return m;
}

Status ChainMonitorMaps::Write(const sfc_monitor_config& config) const {
  uint32_t zero = 0;
  if (bpf_map_update_elem(config_.get(), &zero, &config, BPF_ANY) != 0)
    return ErrnoStatus("writing the monitor settings", errno);
  return Status::Ok();
}

Result<sfc_monitor_config> ChainMonitorMaps::Read() const {
  uint32_t zero = 0;
  sfc_monitor_config c{};
  if (bpf_map_lookup_elem(config_.get(), &zero, &c) != 0)
    return ErrnoStatus("reading the monitor settings", errno);
  return c;
}

Result<Counters> ChainMonitorMaps::ReadCounters() const {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoStatus("counting CPUs", -ncpu);
  std::vector<sfc_monitor_stats> per_cpu(ncpu);
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(stats_.get(), &zero, per_cpu.data()) != 0)
    return ErrnoStatus("reading the monitor counters", errno);
  Counters c;
  for (const auto& s : per_cpu) {
    c.events += s.events;
    c.lost += s.lost;
    c.rate_limited += s.rate_limited;
    c.sampled_out += s.sampled_out;
  }
  return c;
}

}  // namespace sfc::monitor
