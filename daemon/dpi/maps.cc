#include "dpi/maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cerrno>

namespace sfc::dpi {

uint64_t CoarseNowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

Result<bool> WriteVerdict(int flows_fd, const dpi_flow_key& key, const Verdict& v) {
  dpi_flow f{};
  if (bpf_map_lookup_elem(flows_fd, &key, &f) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus("reading a dpi flow entry", errno);
  }
  if (f.state == DPI_CLASSIFIED) return false;
  f.state = v.state;
  f.reason = v.reason;
  f.app = v.app;
  f.master = v.master;
  f.category = v.category;
  if (bpf_map_update_elem(flows_fd, &key, &f, BPF_EXIST) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus("writing a dpi flow verdict", errno);
  }
  return true;
}

Result<std::vector<FlowEntry>> ReadFlows(int flows_fd, size_t limit) {
  std::vector<FlowEntry> out;
  dpi_flow_key key{}, next{};
  const dpi_flow_key* prev = nullptr;
  while (out.size() < limit) {
    if (bpf_map_get_next_key(flows_fd, prev, &next) != 0) {
      if (errno == ENOENT) break;
      return ErrnoStatus("walking the dpi flow table", errno);
    }
    key = next;
    prev = &key;
    FlowEntry e{key, {}};
    if (bpf_map_lookup_elem(flows_fd, &key, &e.value) != 0) continue;  // evicted meanwhile
    out.push_back(e);
  }
  return out;
}

Result<std::map<uint16_t, dpi_app_counters>> ReadAppCounters(int app_stats_fd) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return ErrnoStatus("counting possible CPUs", -cpus);
  std::vector<dpi_app_counters> per_cpu(static_cast<size_t>(cpus));
  std::map<uint16_t, dpi_app_counters> out;
  for (uint32_t slot = 0; slot < DPI_APP_SLOTS; ++slot) {
    if (bpf_map_lookup_elem(app_stats_fd, &slot, per_cpu.data()) != 0)
      return ErrnoStatus("reading dpi app_stats slot " + std::to_string(slot), errno);
    dpi_app_counters sum{};
    for (const auto& c : per_cpu) {
      sum.packets += c.packets;
      sum.bytes += c.bytes;
    }
    if (sum.packets != 0) out[static_cast<uint16_t>(slot)] = sum;
  }
  return out;
}

Result<SweepResult> SweepFlows(int flows_fd, uint64_t now_ns, uint64_t idle_before_ns,
                               uint32_t max_packets,
                               const std::function<bool(const dpi_flow_key&)>& tracking) {
  SweepResult r;
  SFC_ASSIGN_OR_RETURN(std::vector<FlowEntry> entries, ReadFlows(flows_fd));
  for (FlowEntry& e : entries) {
    r.scanned++;
    if (e.value.last_seen_ns < idle_before_ns) {
      if (bpf_map_delete_elem(flows_fd, &e.key) == 0) r.expired++;
      continue;
    }
    if (e.value.state == DPI_PENDING && e.value.fed >= max_packets &&
        e.value.last_seen_ns + 1000000000ull < now_ns && !tracking(e.key)) {
      Verdict v;
      v.state = DPI_GIVEN_UP;
      v.reason = DPI_GIVEUP_LOST;
      SFC_ASSIGN_OR_RETURN(bool written, WriteVerdict(flows_fd, e.key, v));
      if (written) r.lost++;
    }
  }
  return r;
}

}  // namespace sfc::dpi
