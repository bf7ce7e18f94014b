#include "engine/bpf_util.h"

#include <bpf/btf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace sfc {

Result<UniqueFd> OpenPinned(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return NotFound("nothing pinned at " + path);
    return ErrnoStatus("opening pin " + path, err);
  }
  return UniqueFd(fd);
}

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Internal("creating directory " + path + ": " + ec.message());
  return Status::Ok();
}

Status PinFd(int fd, const std::string& path) {
  SFC_RETURN_IF_ERROR(MakeDirs(std::filesystem::path(path).parent_path()));
  if (bpf_obj_pin(fd, path.c_str()) != 0) return ErrnoStatus("pinning " + path, errno);
  return Status::Ok();
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Internal("removing " + path + ": " + ec.message());
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Result<bpf_map_info> MapInfo(int map_fd) {
  bpf_map_info info = {};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0)
    return ErrnoStatus("reading map info", errno);
  return info;
}

Result<bpf_prog_info> ProgInfo(int prog_fd) {
  bpf_prog_info info = {};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0)
    return ErrnoStatus("reading program info", errno);
  return info;
}

bool MapCompatible(const bpf_map_info& have, const bpf_map* want) {
  return have.type == static_cast<uint32_t>(bpf_map__type(want)) &&
         have.key_size == bpf_map__key_size(want) && have.value_size == bpf_map__value_size(want) &&
         have.max_entries == bpf_map__max_entries(want) &&
         have.map_flags == bpf_map__map_flags(want);
}

Status SetRodata(bpf_object* obj, const std::string& var, const void* value, size_t size) {
  const btf* btf = bpf_object__btf(obj);
  if (!btf) return Internal("object has no BTF; cannot set " + var);
  bpf_map* rodata = nullptr;
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    const char* name = bpf_map__name(map);
    if (bpf_map__is_internal(map) && std::strstr(name, ".rodata")) rodata = map;
  }
  if (!rodata) return Internal("object has no .rodata; cannot set " + var);

  int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  if (sec_id < 0) return Internal("no .rodata section in BTF; cannot set " + var);
  const btf_type* sec = btf__type_by_id(btf, sec_id);
  const btf_var_secinfo* vs = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); ++i, ++vs) {
    const btf_type* t = btf__type_by_id(btf, vs->type);
    if (var != btf__name_by_offset(btf, t->name_off)) continue;
    if (vs->size != size)
      return Internal("rodata " + var + " is " + std::to_string(vs->size) + " bytes, not " +
                      std::to_string(size));
    size_t total = 0;
    // Writable until load, whatever the const of the libbpf 1.1 prototype says.
    auto* data = static_cast<char*>(const_cast<void*>(bpf_map__initial_value(rodata, &total)));
    if (!data || vs->offset + size > total) return Internal("rodata of " + var + " out of range");
    std::memcpy(data + vs->offset, value, size);
    return Status::Ok();
  }
  return Internal("object has no rodata variable " + var);
}

Result<NamedCounters> ReadPerCpuCounters(int map_fd, uint32_t key) {
  SFC_ASSIGN_OR_RETURN(bpf_map_info info, MapInfo(map_fd));
  if (info.type != BPF_MAP_TYPE_PERCPU_ARRAY && info.type != BPF_MAP_TYPE_ARRAY)
    return FailedPrecondition("map is not an array");
  if (!info.btf_id || !info.btf_value_type_id)
    return FailedPrecondition("map has no BTF value type");

  std::unique_ptr<struct btf, void (*)(struct btf*)> owned(btf__load_from_kernel_by_id(info.btf_id),
                                                           btf__free);
  if (!owned) return ErrnoStatus("loading map BTF", errno);
  const struct btf* btf = owned.get();

  int type_id = btf__resolve_type(btf, info.btf_value_type_id);
  const btf_type* t = type_id < 0 ? nullptr : btf__type_by_id(btf, type_id);
  if (!t || !btf_is_struct(t)) return FailedPrecondition("map value is not a struct");

  const bool percpu = info.type == BPF_MAP_TYPE_PERCPU_ARRAY;
  const int ncpus = percpu ? libbpf_num_possible_cpus() : 1;
  if (ncpus <= 0) return ErrnoStatus("counting CPUs", ncpus);
  const size_t stride = percpu ? (info.value_size + 7) / 8 * 8 : info.value_size;
  std::vector<uint8_t> buf(stride * ncpus);
  if (bpf_map_lookup_elem(map_fd, &key, buf.data()) != 0)
    return ErrnoStatus("reading counters", errno);

  NamedCounters out;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i, ++m) {
    const btf_type* mt = btf__type_by_id(btf, btf__resolve_type(btf, m->type));
    if (!mt || !btf_is_int(mt) || mt->size != 8 || btf_member_bitfield_size(t, i)) continue;
    size_t off = btf_member_bit_offset(t, i) / 8;
    uint64_t sum = 0;
    for (int cpu = 0; cpu < ncpus; ++cpu) {
      uint64_t v;
      std::memcpy(&v, &buf[cpu * stride + off], sizeof(v));
      sum += v;
    }
    out.emplace_back(btf__name_by_offset(btf, m->name_off), sum);
  }
  return out;
}

Result<LatencyHistogram> ReadLatencyHistogram(int map_fd, uint32_t slot) {
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return ErrnoStatus("counting CPUs", ncpus);
  const size_t stride = (sizeof(sfc_latency_hist) + 7) / 8 * 8;
  std::vector<uint8_t> buf(stride * ncpus);
  if (bpf_map_lookup_elem(map_fd, &slot, buf.data()) != 0)
    return ErrnoStatus("reading latency histogram of slot " + std::to_string(slot), errno);
  return LatencyHistogram::FromPerCpu(buf.data(), stride, ncpus);
}

}  // namespace sfc
