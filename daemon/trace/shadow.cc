#include "trace/shadow.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstring>
#include <unordered_map>

#include "common/log.h"
#include "engine/attachment.h"
#include "engine/bpf_util.h"
#include "engine/generation.h"

namespace sfc::trace {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t Micros(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

uint64_t Fnv(const void* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 0x100000001b3ULL;
  return h;
}

bool PerCpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}
bool MapInMap(uint32_t type) {
  return type == BPF_MAP_TYPE_ARRAY_OF_MAPS || type == BPF_MAP_TYPE_HASH_OF_MAPS;
}
// Tables a packet can add to or change (connection tracking, flows,
// connections): their entries are remembered, to tell what the run changed.
bool Watched(uint32_t type) { return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LRU_HASH; }
bool Copyable(uint32_t type) {
  switch (type) {
    case BPF_MAP_TYPE_HASH:
    case BPF_MAP_TYPE_LRU_HASH:
    case BPF_MAP_TYPE_ARRAY:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_LPM_TRIE:
    case BPF_MAP_TYPE_ARRAY_OF_MAPS:
    case BPF_MAP_TYPE_HASH_OF_MAPS:
      return true;
    default:
      return false;
  }
}

size_t ValueBytes(const bpf_map_info& info) {
  if (!PerCpu(info.type)) return info.value_size;
  return ((info.value_size + 7) / 8 * 8) * static_cast<size_t>(libbpf_num_possible_cpus());
}

// One map of the copy, with what it held before the run when it is watched.
struct CopiedMap {
  std::string vnf, name;
  int fd = -1;  // owned by the copy's VNF object
  bpf_map_info info{};
  std::unordered_map<uint64_t, uint64_t> before;  // hash(key) -> hash(value)
};

// Fills the copy's VNF maps from the live instance's pins (Generation::ShadowFill).
class Copier {
 public:
  Copier(const PinLayout& pins, std::string chain) : pins_(pins), chain_(std::move(chain)) {}

  Status Fill(const VnfSpec& vnf, bpf_object* obj, const std::vector<std::string>& names) {
    for (const auto& name : names) {
      bpf_map* m = bpf_object__find_map_by_name(obj, name.c_str());
      if (!m) return Internal("map " + name + " vanished from the object");
      const std::string pin = pins_.VnfMap(chain_, vnf.name, name);
      auto live = OpenPinned(pin);
      if (!live.ok())
        return FailedPrecondition("the live chain has no map " + pin +
                                  " (pinned by a different sfcd?): " + live.status().message());
      SFC_ASSIGN_OR_RETURN(bpf_map_info have, MapInfo(live->get()));
      CopiedMap c{vnf.name, name, bpf_map__fd(m), {}, {}};
      SFC_ASSIGN_OR_RETURN(c.info, MapInfo(c.fd));
      if (have.type != c.info.type || have.key_size != c.info.key_size ||
          have.value_size != c.info.value_size || have.max_entries != c.info.max_entries)
        return FailedPrecondition("map " + pin +
                                  " differs from what the saved spec builds (type, key, value "
                                  "or size): was the chain applied by a different sfcd?");
      // A ring buffer is a channel to sfcd (dpi's packet copies), not
      // state: the copy keeps the new, empty one it was built with, which
      // nobody reads.
      if (have.type == BPF_MAP_TYPE_RINGBUF) continue;
      if (!Copyable(have.type))
        return Internal("map " + pin + ": type " + std::to_string(have.type) +
                        " cannot be copied for a trace");
      const auto start = Clock::now();
      const uint64_t before = copied_;
      SFC_RETURN_IF_ERROR(Copy(live->get(), c).Wrap("copying " + pin));
      copy_time_ += Clock::now() - start;
      log::Debug("trace.map_copied", {{"map", pin},
                                      {"entries", std::to_string(copied_ - before)},
                                      {"us", std::to_string(Micros(Clock::now() - start))}});
      maps_.push_back(std::move(c));
    }
    return Status::Ok();
  }

  std::vector<CopiedMap>& maps() { return maps_; }
  uint64_t copied() const { return copied_; }
  Clock::duration copy_time() const { return copy_time_; }

 private:
  Status Copy(int from, CopiedMap& to) {
    if (Batched(to.info.type)) return CopyBatched(from, to);
    if (MapInMap(to.info.type)) return CopyMapInMap(from, to);
    const bpf_map_info& info = to.info;
    std::vector<uint8_t> key(info.key_size), next(info.key_size), value(ValueBytes(info));
    const bool watched = Watched(info.type);
    void* prev = nullptr;
    while (bpf_map_get_next_key(from, prev, next.data()) == 0) {
      if (bpf_map_lookup_elem(from, next.data(), value.data()) == 0) {
        if (bpf_map_update_elem(to.fd, next.data(), value.data(), BPF_ANY)) {
          return ErrnoStatus("writing an entry", errno);
        }
        if (watched) to.before[Fnv(next.data(), next.size())] = Fnv(value.data(), value.size());
        ++copied_;
      } else if (errno != ENOENT) {  // ENOENT: the data plane removed it meanwhile
        return ErrnoStatus("reading an entry", errno);
      }
      key.swap(next);
      prev = key.data();
    }
    if (errno != ENOENT) return ErrnoStatus("walking the keys", errno);
    return Status::Ok();
  }

  static bool Batched(uint32_t type) {
    return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LRU_HASH ||
           type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
           type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  }

  // Lookups give the inner maps' ids, updates take fds. Every update of a
  // map-in-map from user space waits for an RCU grace period (tens to
  // hundreds of ms on a busy VM), so all slots go in one batch when the
  // kernel takes it, one by one otherwise.
  Status CopyMapInMap(int from, CopiedMap& to) {
    const size_t ks = to.info.key_size;
    std::vector<uint8_t> key(ks), next(ks), keys;
    std::vector<UniqueFd> inner;
    std::vector<int> fds;
    void* prev = nullptr;
    while (bpf_map_get_next_key(from, prev, next.data()) == 0) {
      uint32_t id = 0;
      if (bpf_map_lookup_elem(from, next.data(), &id) == 0) {
        UniqueFd fd(bpf_map_get_fd_by_id(id));
        if (!fd) return ErrnoStatus("opening inner map id " + std::to_string(id), errno);
        fds.push_back(fd.get());
        inner.push_back(std::move(fd));
        keys.insert(keys.end(), next.begin(), next.end());
        ++copied_;
      } else if (errno != ENOENT) {
        return ErrnoStatus("reading an entry", errno);
      }
      key.swap(next);
      prev = key.data();
    }
    if (errno != ENOENT) return ErrnoStatus("walking the keys", errno);
    if (fds.empty()) return Status::Ok();
    uint32_t n = static_cast<uint32_t>(fds.size());
    if (bpf_map_update_batch(to.fd, keys.data(), fds.data(), &n, nullptr) == 0) return Status::Ok();
    if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP)
      return ErrnoStatus("inserting inner maps", errno);
    for (size_t i = 0; i < fds.size(); ++i)
      if (bpf_map_update_elem(to.fd, &keys[i * ks], &fds[i], BPF_ANY))
        return ErrnoStatus("inserting inner map", errno);
    return Status::Ok();
  }

  // Thousands of entries per syscall: a 1M-entry table copies in well under
  // a second. Array slots that are all zero are left as the new map has them.
  Status CopyBatched(int from, CopiedMap& to) {
    const bpf_map_info& info = to.info;
    const size_t ks = info.key_size, vs = ValueBytes(info);
    // At most 4096 entries and about 4 MB per batch: the firewall's port
    // tables have 256 KB values.
    const uint32_t kChunk =
        static_cast<uint32_t>(std::clamp<size_t>((4u << 20) / std::max<size_t>(vs, 1), 1, 4096));
    const bool array = info.type == BPF_MAP_TYPE_ARRAY || info.type == BPF_MAP_TYPE_PERCPU_ARRAY;
    const bool watched = Watched(info.type);
    std::vector<uint8_t> keys(kChunk * ks), values(kChunk * vs);
    std::vector<uint8_t> in(std::max<size_t>(ks, 8)), out(in.size());
    bool first = true, done = false;
    while (!done) {
      uint32_t count = kChunk;
      if (bpf_map_lookup_batch(from, first ? nullptr : in.data(), out.data(), keys.data(),
                               values.data(), &count, nullptr)) {
        if (errno != ENOENT) return ErrnoStatus("reading entries", errno);
        done = true;  // the last (possibly empty) batch
      }
      first = false;
      in.swap(out);
      uint32_t kept = 0;
      for (uint32_t i = 0; i < count; ++i) {
        const uint8_t* k = &keys[i * ks];
        const uint8_t* v = &values[i * vs];
        if (array) {
          bool zero = true;
          for (size_t b = 0; b < vs && zero; ++b) zero = v[b] == 0;
          if (zero) continue;
        }
        if (watched) to.before[Fnv(k, ks)] = Fnv(v, vs);
        if (kept != i) {
          std::memmove(&keys[kept * ks], k, ks);
          std::memmove(&values[kept * vs], v, vs);
        }
        ++kept;
      }
      copied_ += count;
      if (kept && bpf_map_update_batch(to.fd, keys.data(), values.data(), &kept, nullptr))
        return ErrnoStatus("writing entries", errno);
    }
    return Status::Ok();
  }

  const PinLayout& pins_;
  const std::string chain_;
  std::vector<CopiedMap> maps_;
  uint64_t copied_ = 0;
  Clock::duration copy_time_{};
};

void Append(void* ctx, const char* fmt, va_list args) {
  char buf[512];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n > 0) static_cast<std::string*>(ctx)->append(buf, std::min<size_t>(n, sizeof(buf) - 1));
}

// Key or value decoded through the map's BTF; hex without BTF.
std::string Decode(btf* b, uint32_t type_id, const std::vector<uint8_t>& data) {
  std::string out;
  if (b && type_id) {
    btf_dump* d = btf_dump__new(b, Append, &out, nullptr);
    if (d) {
      LIBBPF_OPTS(btf_dump_type_data_opts, o, .compact = true, .emit_zeroes = false);
      int rc = btf_dump__dump_type_data(d, type_id, data.data(), data.size(), &o);
      btf_dump__free(d);
      if (rc >= 0) return out;
    }
    out.clear();
  }
  static const char* kHex = "0123456789abcdef";
  for (uint8_t c : data) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Entries of watched maps the run created or changed.
Status CollectChanges(std::vector<CopiedMap>& maps, std::vector<StateChange>* out) {
  for (CopiedMap& m : maps) {
    if (!Watched(m.info.type)) continue;
    std::vector<uint8_t> key(m.info.key_size), next(m.info.key_size), value(m.info.value_size);
    btf* b = m.info.btf_id ? btf__load_from_kernel_by_id(m.info.btf_id) : nullptr;
    void* prev = nullptr;
    while (bpf_map_get_next_key(m.fd, prev, next.data()) == 0) {
      if (bpf_map_lookup_elem(m.fd, next.data(), value.data()) == 0) {
        auto it = m.before.find(Fnv(next.data(), next.size()));
        if (it == m.before.end() || it->second != Fnv(value.data(), value.size()))
          out->push_back({m.vnf, m.name, it == m.before.end(),
                          Decode(b, m.info.btf_key_type_id, next),
                          Decode(b, m.info.btf_value_type_id, value)});
      }
      key.swap(next);
      prev = key.data();
    }
    btf__free(b);
  }
  return Status::Ok();
}

struct Events {
  std::vector<sfc_event> raw;
};

int OnEvent(void* ctx, void* data, size_t size) {
  if (size >= sizeof(sfc_event)) {
    sfc_event ev;
    std::memcpy(&ev, data, sizeof(ev));
    static_cast<Events*>(ctx)->raw.push_back(ev);
  }
  return 0;
}

int64_t ClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string IfName(uint32_t ifindex) {
  char buf[IF_NAMESIZE] = {};
  return ifindex && if_indextoname(ifindex, buf) ? buf : "";
}

}  // namespace

Result<TraceResult> RunTrace(ChainEngine& engine, const std::string& chain,
                             const PacketSpec& spec) {
  SFC_ASSIGN_OR_RETURN(ChainInfo info, engine.Get(chain));
  TraceResult r;
  r.interface = spec.iif;
  if (r.interface.empty() && !info.spec.interfaces.empty())
    r.interface = info.spec.interfaces[0].name;
  if (!r.interface.empty()) {
    r.ifindex = if_nametoindex(r.interface.c_str());
    if (!r.ifindex) return NotFound("packet: iif " + r.interface + ": no such interface");
  }
  r.frame_in = BuildFrame(spec);

  // The copy of the live generation.
  const auto build_start = Clock::now();
  Copier copier(engine.pins(), chain);
  Generation gen(engine.pins(), engine.registry(), info.spec,
                 [&](const VnfSpec& v, bpf_object* obj, const std::vector<std::string>& maps) {
                   return copier.Fill(v, obj, maps);
                 });
  SFC_RETURN_IF_ERROR(gen.Prepare(false).Wrap("building the trace's copy of chain " + chain));
  SFC_ASSIGN_OR_RETURN(
      EntryProgram entry,
      EntryProgram::Load({gen.pktctx_fd(), gen.chain_stats_fd(), -1, -1, gen.events_fd(),
                          gen.monitor_fd(), gen.monitor_stats_fd()}));
  const uint32_t zero = 0;
  const int first = gen.first_prog_fd();
  if (bpf_map_update_elem(entry.root_fd(), &zero, &first, BPF_ANY))
    return ErrnoStatus("filling the copy's root slot", errno);
  sfc_chain_config cc{info.generation,
                      info.spec.fail_policy == FailPolicy::kPass ? SFC_FAIL_PASS : SFC_FAIL_DROP,
                      info.spec.timing ? 1u : 0u};
  if (bpf_map_update_elem(entry.config_fd(), &zero, &cc, BPF_ANY))
    return ErrnoStatus("writing the copy's chain config", errno);
  sfc_monitor_config mc{};
  mc.mode = SFC_MON_ALL;
  mc.stages = SFC_MON_STAGES_ALL;
  mc.sample = 1;
  if (bpf_map_update_elem(gen.monitor_fd(), &zero, &mc, BPF_ANY))
    return ErrnoStatus("turning on the copy's monitor", errno);
  r.entries_copied = copier.copied();
  r.copy_us = Micros(copier.copy_time());
  r.build_us = Micros(Clock::now() - build_start);

  // The run.
  r.frame_out.resize(r.frame_in.size() + 256);
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(r.frame_in.size());
  ctx.ingress_ifindex = r.ifindex;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = r.frame_in.data(), .data_out = r.frame_out.data(),
              .data_size_in = static_cast<uint32_t>(r.frame_in.size()),
              .data_size_out = static_cast<uint32_t>(r.frame_out.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx), .repeat = 1);
  const auto run_start = Clock::now();
  if (int err = bpf_prog_test_run_opts(entry.fd(), &opts))
    return ErrnoStatus("running the frame through the copy (BPF_PROG_TEST_RUN)", -err);
  r.run_us = Micros(Clock::now() - run_start);
  r.xdp_action = opts.retval;
  r.frame_out.resize(opts.data_size_out);

  // What each stage said, from the copy's monitor.
  Events evs;
  ring_buffer* rb = ring_buffer__new(gen.events_fd(), OnEvent, &evs, nullptr);
  if (!rb) return ErrnoStatus("reading the copy's monitor events", errno);
  int consumed = ring_buffer__consume(rb);
  ring_buffer__free(rb);
  if (consumed < 0) return ErrnoStatus("reading the copy's monitor events", -consumed);
  const int64_t realtime_offset = ClockNs(CLOCK_REALTIME) - ClockNs(CLOCK_MONOTONIC);
  for (const sfc_event& raw : evs.raw) {
    monitor::Event ev;
    ev.raw = raw;
    ev.unix_ns = static_cast<int64_t>(raw.ts_ns) + realtime_offset;
    if (raw.stage == SFC_STAGE_ENTRY) {
      ev.vnf = "entry";
    } else if (raw.stage == SFC_STAGE_EGRESS) {
      ev.vnf = "egress";
      if (raw.action == SFC_ACT_REDIRECT) {
        if (info.spec.egress.action == EgressAction::kRedirect) {
          r.egress_interface = info.spec.egress.port;
          r.egress_ifindex = if_nametoindex(r.egress_interface.c_str());
        } else {
          r.egress_ifindex = raw.detail;  // fib: the route's interface
          r.egress_interface = IfName(raw.detail);
        }
      }
    } else if (raw.stage < info.spec.vnfs.size()) {
      ev.vnf = info.spec.vnfs[raw.stage].name;
      ev.vnf_type = info.spec.vnfs[raw.stage].type;
    }
    if (raw.reason == SFC_REASON_FW_RULE && ev.vnf_type == "firewall") {
      for (const CopiedMap& m : copier.maps()) {
        if (m.vnf != ev.vnf || m.name != "rule_ids") continue;
        char id[65] = {};
        if (m.info.value_size <= sizeof(id) && bpf_map_lookup_elem(m.fd, &raw.detail, id) == 0)
          ev.rule_id = id;
      }
    }
    r.events.push_back(std::move(ev));
  }
  SFC_RETURN_IF_ERROR(CollectChanges(copier.maps(), &r.changes));
  return r;
}

}  // namespace sfc::trace
