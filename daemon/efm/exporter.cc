#include "efm/exporter.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "common/log.h"
#include "engine/bpf_util.h"

namespace sfc::efm {
namespace {

// The kernel's ENOTSUPP, which is not in the UAPI errno set.
constexpr int kENOTSUPP = 524;

// Entries per BPF_MAP_LOOKUP_BATCH call: 4096 x 88 bytes is a few hundred KiB.
constexpr uint32_t kBatch = 4096;

uint64_t ClockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t Counter(const NamedCounters& counters, std::string_view name) {
  for (const auto& [n, v] : counters)
    if (n == name) return v;
  return 0;
}

TrackerConfig ToTrackerConfig(const FlowmonConfig& c) {
  TrackerConfig t;
  t.idle_timeout_ns = uint64_t{c.idle_timeout_s} * 1'000'000'000ull;
  t.active_timeout_ns = uint64_t{c.active_timeout_s} * 1'000'000'000ull;
  return t;
}

bool SameIpfix(const IpfixConfig& a, const IpfixConfig& b) {
  return a.collectors == b.collectors && a.observation_domain == b.observation_domain &&
         a.template_refresh_s == b.template_refresh_s;
}

}  // namespace

uint64_t MonotonicNowNs() { return ClockNs(CLOCK_MONOTONIC); }
int64_t WallOffsetNs() {
  return static_cast<int64_t>(ClockNs(CLOCK_REALTIME)) -
         static_cast<int64_t>(ClockNs(CLOCK_MONOTONIC));
}

// --- IPFIX over UDP -------------------------------------------------------

class FlowExporter::IpfixSender {
 public:
  IpfixSender(const FlowExporter& owner, const IpfixConfig& config)
      : config_(config), encoder_(config.observation_domain) {
    for (const Endpoint& ep : config.collectors) {
      UniqueFd fd(socket(ep.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      sockaddr_storage ss{};
      socklen_t len = 0;
      if (ep.family == AF_INET) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(ep.port);
        std::copy_n(ep.addr.begin(), 4, reinterpret_cast<uint8_t*>(&sin->sin_addr));
        len = sizeof(*sin);
      } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(ep.port);
        std::copy_n(ep.addr.begin(), 16, reinterpret_cast<uint8_t*>(&sin6->sin6_addr));
        len = sizeof(*sin6);
      }
      if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        log::Warn("efm.ipfix_socket_failed", {{"chain", owner.info_.chain},
                                              {"vnf", owner.info_.name},
                                              {"collector", ep.text},
                                              {"error", std::strerror(errno)}});
        continue;  // the others still get records
      }
      socks_.push_back(std::move(fd));
    }
  }

  const IpfixConfig& config() const { return config_; }

  // Sends the records, with the templates first when they are due (first
  // message, then every template_refresh_s: RFC 7011 §8.4 for UDP).
  void Send(const std::vector<FlowRecord>& records, int64_t wall_offset_ns, uint64_t now_ns) {
    const bool templates =
        last_templates_ns_ == 0 ||
        now_ns - last_templates_ns_ >= uint64_t{config_.template_refresh_s} * 1'000'000'000ull;
    if (records.empty() && !templates) return;
    if (templates) last_templates_ns_ = now_ns;
    const auto export_time = static_cast<uint32_t>((now_ns + wall_offset_ns) / 1'000'000'000ull);
    for (const auto& msg : encoder_.Encode(records, wall_offset_ns, export_time, templates)) {
      for (const auto& fd : socks_) {
        if (send(fd.get(), msg.data(), msg.size(), 0) == static_cast<ssize_t>(msg.size()))
          ++messages_;
        else
          ++errors_;  // e.g. ECONNREFUSED: no collector listening right now
      }
    }
  }

  uint64_t messages() const { return messages_; }
  uint64_t errors() const { return errors_; }

 private:
  IpfixConfig config_;
  IpfixEncoder encoder_;
  std::vector<UniqueFd> socks_;
  uint64_t last_templates_ns_ = 0;
  uint64_t messages_ = 0, errors_ = 0;
};

// --- exporter -------------------------------------------------------------

FlowExporter::FlowExporter(VnfInstanceInfo info, FlowmonConfig config)
    : info_(std::move(info)),
      config_(std::move(config)),
      tracker_(ToTrackerConfig(config_), &store_) {
  ipfix_ = std::make_unique<IpfixSender>(*this, config_.ipfix);
}

FlowExporter::~FlowExporter() { Stop(false); }

void FlowExporter::TableStartsEmpty() {
  std::lock_guard lock(mu_);
  tracker_.StartsEmpty();
}

void FlowExporter::Start() {
  std::lock_guard lock(run_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void FlowExporter::Reconfigure(const FlowmonConfig& config) {
  // Never waits for a scan in progress (seconds on a big table): the scanning
  // side picks the change up when its next scan starts.
  std::lock_guard lock(mu_);
  config_ = config;
  tracker_.SetConfig(ToTrackerConfig(config));
  reconfigured_ = true;
}

void FlowExporter::Stop(bool flush) {
  {
    std::lock_guard lock(run_mu_);
    stopping_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (flush) {
    Status st = ScanOnce(/*final=*/true);
    if (!st.ok())
      log::Warn("efm.final_export_failed",
                {{"chain", info_.chain}, {"vnf", info_.name}, {"error", st.message()}});
  }
  std::lock_guard lock(mu_);
  for (auto& w : watchers_) w->Close();
  watchers_.clear();
}

void FlowExporter::Run() {
  std::string last_error;
  for (;;) {
    uint32_t interval_ms;
    {
      std::lock_guard lock(mu_);
      interval_ms = config_.scan_interval_ms;
    }
    {
      std::unique_lock lock(run_mu_);
      if (run_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms),
                           [this] { return stopping_; }))
        return;
    }
    Status st = ScanOnce();
    // One line per change of condition, not one per scan.
    if (!st.ok() && st.message() != last_error)
      log::Warn("efm.scan_failed",
                {{"chain", info_.chain}, {"vnf", info_.name}, {"error", st.message()}});
    else if (st.ok() && !last_error.empty())
      log::Info("efm.scan_recovered", {{"chain", info_.chain}, {"vnf", info_.name}});
    last_error = st.ok() ? "" : st.message();
  }
}

// --- saved export state ---------------------------------------------------

std::optional<SavedExport> FlowExporter::MapStore::Load(const FlowKey& key) {
  efm_export_state v{};
  if (!maps_->exported || bpf_map_lookup_elem(maps_->exported.get(), &key, &v) != 0)
    return std::nullopt;
  return SavedExport{v.first_seen_ns, v.packets, v.bytes, v.cut_ns};
}

void FlowExporter::MapStore::Save(const FlowKey& key, const SavedExport& saved) {
  if (!maps_->exported) return;
  const efm_export_state v{saved.first_seen_ns, saved.packets, saved.bytes, saved.cut_ns};
  // Full (more long flows than max_flows, impossible while both maps have
  // the same size): that flow would be exported again after a restart.
  (void)bpf_map_update_elem(maps_->exported.get(), &key, &v, BPF_ANY);
}

void FlowExporter::MapStore::Erase(const FlowKey& key) {
  if (maps_->exported) (void)bpf_map_delete_elem(maps_->exported.get(), &key);
}

void FlowExporter::PurgeExportState(const Maps& maps) {
  if (!maps.exported) return;
  std::vector<FlowKey> stale;
  FlowKey key{}, next{};
  const void* prev = nullptr;
  {
    std::lock_guard lock(mu_);
    while (bpf_map_get_next_key(maps.exported.get(), prev, &next) == 0) {
      if (!tracker_.Persisted(next)) stale.push_back(next);
      key = next;
      prev = &key;
    }
  }
  for (const auto& k : stale) (void)bpf_map_delete_elem(maps.exported.get(), &k);
}

Status FlowExporter::OpenMaps(Maps* out) const {
  SFC_ASSIGN_OR_RETURN(out->flows, OpenPinned(info_.pin_dir + "/flows"));
  SFC_ASSIGN_OR_RETURN(out->stats, OpenPinned(info_.pin_dir + "/stats"));
  // Optional: absent only in tables pinned by an sfcd that did not keep it.
  if (auto exported = OpenPinned(info_.pin_dir + "/exported"); exported.ok())
    out->exported = std::move(exported).value();
  SFC_ASSIGN_OR_RETURN(bpf_map_info mi, MapInfo(out->flows.get()));
  if (mi.key_size != sizeof(efm_flow_key) || mi.value_size != sizeof(efm_flow))
    return FailedPrecondition(info_.pin_dir + "/flows: key/value sizes " +
                              std::to_string(mi.key_size) + "/" + std::to_string(mi.value_size) +
                              " are not this sfcd's flow table layout");
  out->flows_id = mi.id;
  return Status::Ok();
}

Status FlowExporter::ScanOnce(bool final) {
  std::lock_guard scan(scan_mu_);
  std::optional<IpfixConfig> ipfix;
  {
    std::lock_guard lock(mu_);
    if (reconfigured_) {
      ipfix = config_.ipfix;
      reopen_ = true;  // the engine may have given the instance new maps
      reconfigured_ = false;
    }
  }
  if (ipfix && !SameIpfix(ipfix_->config(), *ipfix))
    ipfix_ = std::make_unique<IpfixSender>(*this, *ipfix);
  if (reopen_ || !maps_.flows.valid()) {
    Maps fresh;
    Status st = OpenMaps(&fresh);
    if (!st.ok()) {
      if (!maps_.flows.valid()) return st;  // keep using the maps we hold
    } else {
      if (maps_.flows.valid() && fresh.flows_id != maps_.flows_id) {
        // The engine gave the instance a new table (max_flows changed): what
        // the old one still holds is finished now.
        std::vector<FlowRecord> records;
        Status old = ScanTable(maps_, /*final=*/true, &records);
        Publish(records, WallOffsetNs());
        if (!old.ok()) log::Warn("efm.old_table_flush_failed", {{"error", old.message()}});
        std::lock_guard lock(mu_);
        tracker_.Reset();
        purged_ = false;
      }
      maps_ = std::move(fresh);
      reopen_ = false;
    }
  }
  std::vector<FlowRecord> records;
  Status st = ScanTable(maps_, final, &records);
  Publish(records, WallOffsetNs());
  if (st.ok() && !purged_) {
    PurgeExportState(maps_);
    purged_ = true;
  }
  return st;
}

Status FlowExporter::ScanTable(const Maps& maps, bool final, std::vector<FlowRecord>* records) {
  const uint64_t start = MonotonicNowNs();
  SFC_ASSIGN_OR_RETURN(NamedCounters counters, ReadPerCpuCounters(maps.stats.get()));
  const uint64_t created = Counter(counters, "flows_created");
  const uint64_t now = MonotonicNowNs();
  {
    std::lock_guard lock(mu_);
    tracker_.BeginScan(now, created, final);
  }

  std::vector<FlowKey> keys(kBatch);
  std::vector<efm_flow> values(kBatch);
  std::vector<std::pair<FlowKey, EndReason>> expire;
  FlowKey batch_in{}, batch_out{};  // opaque cursor, at least a key in size
  bool first = true;
  for (;;) {
    uint32_t count = kBatch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    // Before the read: whatever this batch misses of a flow came after it.
    const uint64_t read_ns = MonotonicNowNs();
    int err = bpf_map_lookup_batch(maps.flows.get(), first ? nullptr : &batch_in, &batch_out,
                                   keys.data(), values.data(), &count, &opts);
    const bool done = err == -ENOENT;
    if (err && !done) {
      std::lock_guard lock(mu_);
      tracker_.AbortScan();
      return ErrnoStatus("reading " + info_.pin_dir + "/flows", err);
    }
    expire.clear();
    {
      std::lock_guard lock(mu_);
      tracker_.ReadAt(read_ns);
      for (uint32_t i = 0; i < count; ++i)
        if (auto reason = tracker_.Observe(keys[i], ToCounters(values[i]), records))
          expire.push_back({keys[i], *reason});
    }
    // The cursor has passed these entries' buckets, so deleting them does not
    // disturb the iteration.
    for (const auto& [key, reason] : expire) {
      efm_flow taken{};
      int rc = bpf_map_lookup_and_delete_elem(maps.flows.get(), &key, &taken);
      if (rc == -EINVAL || rc == -kENOTSUPP || rc == -EOPNOTSUPP) {
        // Kernels before 5.14 cannot take a hash entry atomically; the window
        // between these two calls is then ours, not just the data plane's.
        rc = bpf_map_lookup_elem(maps.flows.get(), &key, &taken);
        if (rc == 0) rc = bpf_map_delete_elem(maps.flows.get(), &key);
      }
      FlowCounters c = ToCounters(taken);
      std::lock_guard lock(mu_);
      tracker_.Taken(key, rc == 0 ? &c : nullptr, reason, records);
    }
    if (done) break;
    batch_in = batch_out;
    first = false;
  }

  std::lock_guard lock(mu_);
  tracker_.EndScan(records);
  const uint64_t end = MonotonicNowNs();
  const uint64_t rx_packets = Counter(counters, "rx_packets");
  const uint64_t rx_bytes = Counter(counters, "rx_bytes");
  if (last_scan_ns_ && now > last_scan_ns_ && !final) {
    const double secs = static_cast<double>(now - last_scan_ns_) / 1e9;
    summary_.packets_per_s = static_cast<double>(rx_packets - last_rx_packets_) / secs;
    summary_.bytes_per_s = static_cast<double>(rx_bytes - last_rx_bytes_) / secs;
    summary_.new_flows_per_s = static_cast<double>(created - last_created_) / secs;
  }
  last_scan_ns_ = now;
  last_rx_packets_ = rx_packets;
  last_rx_bytes_ = rx_bytes;
  last_created_ = created;
  summary_.flows_created = created;
  summary_.insert_failures = Counter(counters, "flow_insert_fail");
  summary_.scan_ms = static_cast<double>(end - start) / 1e6;
  wall_offset_ns_ = WallOffsetNs();
  summary_.scanned_at_wall_ns = static_cast<int64_t>(now) + wall_offset_ns_;
  if (auto mi = MapInfo(maps.flows.get()); mi.ok()) summary_.max_flows = mi->max_entries;
  return Status::Ok();
}

void FlowExporter::Publish(const std::vector<FlowRecord>& records, int64_t wall_offset_ns) {
  ipfix_->Send(records, wall_offset_ns, MonotonicNowNs());
  std::vector<ExportedRecord> exported;
  exported.reserve(records.size());
  for (const auto& r : records) exported.push_back({r, wall_offset_ns});
  std::lock_guard lock(mu_);
  for (auto& w : watchers_) w->Push(exported);
  summary_.ipfix_messages = ipfix_->messages();
  summary_.ipfix_errors = ipfix_->errors();
}

FlowExporter::Listing FlowExporter::List(const FlowQuery& query) const {
  Listing out;
  FlowSelection selection(query);
  std::lock_guard lock(mu_);
  tracker_.ForEachFlow([&](const FlowView& v) { selection.Offer(v); });
  out.flows = selection.Take();
  out.matched = selection.matched();
  out.active_flows = tracker_.totals().active_flows;
  out.wall_offset_ns = wall_offset_ns_;
  out.scanned_at_wall_ns = summary_.scanned_at_wall_ns;
  return out;
}

ExporterSummary FlowExporter::Summary() const {
  std::lock_guard lock(mu_);
  ExporterSummary s = summary_;
  s.totals = tracker_.totals();
  s.idle_timeout_s = config_.idle_timeout_s;
  s.active_timeout_s = config_.active_timeout_s;
  s.collectors.clear();
  for (const auto& c : config_.ipfix.collectors) s.collectors.push_back(c.text);
  return s;
}

std::shared_ptr<FlowWatcher> FlowExporter::Watch() {
  auto w = std::make_shared<FlowWatcher>();
  std::lock_guard lock(mu_);
  watchers_.push_back(w);
  return w;
}

void FlowExporter::Unwatch(const std::shared_ptr<FlowWatcher>& w) {
  std::lock_guard lock(mu_);
  std::erase(watchers_, w);
}

}  // namespace sfc::efm
