// Thin helpers over libbpf for what the engine does with maps and objects.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/latency_histogram.h"
#include "common/status.h"

namespace sfc {

// Opens a pinned object; NOT_FOUND when nothing is pinned there.
Result<UniqueFd> OpenPinned(const std::string& path);
// Pins fd at path, creating parent directories (bpffs directories) as needed.
Status PinFd(int fd, const std::string& path);
// mkdir -p on bpffs (or anywhere).
Status MakeDirs(const std::string& path);
// Removes a pin directory and everything below it; missing is fine.
Status RemoveTree(const std::string& path);
bool PathExists(const std::string& path);

Result<bpf_map_info> MapInfo(int map_fd);
Result<bpf_prog_info> ProgInfo(int prog_fd);

// Whether an existing map can stand in for the map libbpf would create.
bool MapCompatible(const bpf_map_info& have, const bpf_map* want);

// Sets a `const volatile` global of an object before load, by name, through
// the BTF of its .rodata section. Sizes must match exactly.
Status SetRodata(bpf_object* obj, const std::string& var, const void* value, size_t size);
template <typename T>
Status SetRodata(bpf_object* obj, const std::string& var, T value) {
  return SetRodata(obj, var, &value, sizeof(value));
}

// The u64 fields of a PERCPU_ARRAY entry, summed over CPUs, named by the BTF
// of the map's value type: what `bpftool map dump` shows, folded.
using NamedCounters = std::vector<std::pair<std::string, uint64_t>>;
Result<NamedCounters> ReadPerCpuCounters(int map_fd, uint32_t key = 0);

// One slot of a chain's latency map (<chain>/latency), summed over CPUs.
Result<LatencyHistogram> ReadLatencyHistogram(int map_fd, uint32_t slot);

}  // namespace sfc
