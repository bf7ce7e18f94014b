#include "engine/generation.h"

#include <net/if.h>
#include <unistd.h>

#include <filesystem>

#include <sfc/abi.h>
#include <sfc/latency.h>
#include "common/failpoint.h"
#include "common/log.h"
#include "egress.skel.h"
#include "engine/bpf_util.h"

namespace sfc {
namespace fs = std::filesystem;

// Chains pinned by an older sfcd keep their pktctx map: the parse result may
// grow only into its tail padding.
static_assert(sizeof(sfc_pkt) == 80, "struct sfc_pkt must keep its size");

namespace {

// Chain-level maps every object of a chain shares.
constexpr std::string_view kPktCtxMap = "sfc_pktctx";
constexpr std::string_view kChainStatsMap = "sfc_chain_stats";
constexpr std::string_view kProgsMap = "sfc_progs";
constexpr std::string_view kLatencyMap = "sfc_latency";
constexpr std::string_view kEventsMap = "sfc_events";
constexpr std::string_view kMonitorMap = "sfc_monitor";
constexpr std::string_view kMonitorStatsMap = "sfc_mon_stats";
// Inside a staging directory: the pins a commit replaced, until Finish().
constexpr const char* kReplacedDir = "_replaced";

Status ReuseMap(bpf_map* map, int fd, const std::string& what) {
  int err = bpf_map__reuse_fd(map, fd);
  if (err) return ErrnoStatus("reusing " + what + " for map " + bpf_map__name(map), err);
  return Status::Ok();
}

uint32_t EgressActionValue(EgressAction a) {
  switch (a) {
    case EgressAction::kPass:
      return SFC_EGRESS_PASS;
    case EgressAction::kTx:
      return SFC_EGRESS_TX;
    case EgressAction::kRedirect:
      return SFC_EGRESS_REDIRECT;
    case EgressAction::kFib:
      return SFC_EGRESS_FIB;
  }
  return SFC_EGRESS_PASS;
}

uint32_t FailPolicyValue(FailPolicy p) {
  return p == FailPolicy::kPass ? SFC_FAIL_PASS : SFC_FAIL_DROP;
}

Status Rename(const std::string& from, const std::string& to) {
  SFC_RETURN_IF_ERROR(MakeDirs(fs::path(to).parent_path()));
  if (::rename(from.c_str(), to.c_str()) != 0)
    return ErrnoStatus("moving pin " + from + " to " + to, errno);
  return Status::Ok();
}

}  // namespace

void Generation::EgressDeleter::operator()(sfc_egress* s) const { sfc_egress__destroy(s); }

Generation::Generation(const PinLayout& pins, const VnfRegistry& registry, ChainSpec spec,
                       const ChainSpec* current, uint64_t number)
    : pins_(pins),
      registry_(registry),
      spec_(std::move(spec)),
      current_(current ? std::make_unique<ChainSpec>(*current) : nullptr),
      number_(number),
      staging_(pins.Staging(spec_.name, number)) {}

Generation::Generation(const PinLayout& pins, const VnfRegistry& registry, ChainSpec spec,
                       ShadowFill fill)
    : pins_(pins),
      registry_(registry),
      spec_(std::move(spec)),
      number_(0),
      shadow_fill_(std::move(fill)) {}

Generation::~Generation() {
  if (!committed_ && !shadow_fill_) (void)RemoveTree(staging_);
}

Status Generation::Prepare(bool pin) {
  if (shadow_fill_ && pin) return Internal("a trace's copy of a chain is never pinned");
  SFC_RETURN_IF_ERROR(OpenSharedMaps());
  SFC_RETURN_IF_ERROR(OpenLatency());
  SFC_RETURN_IF_ERROR(LoadEgress());
  progs_ = UniqueFd(bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "sfc_progs", sizeof(uint32_t),
                                   sizeof(uint32_t), SFC_PROG_SLOTS, nullptr));
  if (!progs_) return ErrnoStatus("creating prog array", errno);
  for (size_t i = 0; i < spec_.vnfs.size(); ++i) SFC_RETURN_IF_ERROR(LoadVnf(i));
  SFC_RETURN_IF_ERROR(FillProgArray());
  if (pin) SFC_RETURN_IF_ERROR(StagePins());
  return Status::Ok();
}

int Generation::first_prog_fd() const {
  return vnf_prog_fds_.empty() ? bpf_program__fd(egress_->progs.sfc_egress) : vnf_prog_fds_[0];
}

Status Generation::PinSharedMaps() {
  for (const auto& [fd, path] : {std::pair{pktctx_.get(), pins_.PktCtx(spec_.name)},
                                 {chain_stats_.get(), pins_.ChainStats(spec_.name)},
                                 {events_.get(), pins_.Events(spec_.name)},
                                 {monitor_.get(), pins_.Monitor(spec_.name)},
                                 {monitor_stats_.get(), pins_.MonitorStats(spec_.name)}})
    if (!PathExists(path)) SFC_RETURN_IF_ERROR(PinFd(fd, path));
  return Status::Ok();
}

Status Generation::OpenSharedMaps() {
  if (!current_) return Status::Ok();  // created by the egress object below
  SFC_ASSIGN_OR_RETURN(pktctx_, OpenPinned(pins_.PktCtx(spec_.name)));
  SFC_ASSIGN_OR_RETURN(chain_stats_, OpenPinned(pins_.ChainStats(spec_.name)));
  // Missing when an sfcd without the monitor made the chain: the egress
  // object creates all three below, and PinSharedMaps() pins them.
  auto events = OpenPinned(pins_.Events(spec_.name));
  auto monitor = OpenPinned(pins_.Monitor(spec_.name));
  auto monitor_stats = OpenPinned(pins_.MonitorStats(spec_.name));
  if (events.ok() && monitor.ok() && monitor_stats.ok()) {
    events_ = std::move(events).value();
    monitor_ = std::move(monitor).value();
    monitor_stats_ = std::move(monitor_stats).value();
  }
  return Status::Ok();
}

Status Generation::OpenLatency() {
  if (!current_ || current_->vnfs.size() != spec_.vnfs.size()) return Status::Ok();
  for (size_t i = 0; i < spec_.vnfs.size(); ++i)
    if (current_->vnfs[i].name != spec_.vnfs[i].name ||
        current_->vnfs[i].type != spec_.vnfs[i].type)
      return Status::Ok();  // slots moved: old histograms would name the wrong VNF
  auto fd = OpenPinned(pins_.Latency(spec_.name));
  if (!fd.ok()) return Status::Ok();  // a chain pinned before histograms existed
  auto info = MapInfo(fd->get());
  if (info.ok() && info->type == BPF_MAP_TYPE_PERCPU_ARRAY &&
      info->value_size == sizeof(sfc_latency_hist) && info->max_entries == SFC_MAX_VNFS)
    latency_ = std::move(*fd);
  return Status::Ok();
}

Status Generation::LoadEgress() {
  egress_.reset(sfc_egress__open());
  if (!egress_) return ErrnoStatus("opening egress object", errno);
  egress_->rodata->sfc_egress_action = EgressActionValue(spec_.egress.action);
  egress_->rodata->sfc_fail_policy = FailPolicyValue(spec_.fail_policy);
  if (pktctx_) {
    SFC_RETURN_IF_ERROR(ReuseMap(egress_->maps.sfc_pktctx, pktctx_.get(), "chain pktctx"));
    SFC_RETURN_IF_ERROR(ReuseMap(egress_->maps.sfc_chain_stats, chain_stats_.get(), "chain stats"));
  }
  if (events_) {
    SFC_RETURN_IF_ERROR(ReuseMap(egress_->maps.sfc_events, events_.get(), "monitor events"));
    SFC_RETURN_IF_ERROR(ReuseMap(egress_->maps.sfc_monitor, monitor_.get(), "monitor settings"));
    SFC_RETURN_IF_ERROR(
        ReuseMap(egress_->maps.sfc_mon_stats, monitor_stats_.get(), "monitor counters"));
  }
  if (int err = sfc_egress__load(egress_.get()))
    return ErrnoStatus("loading egress program (see libbpf log)", err);
  if (!pktctx_) {
    pktctx_ = UniqueFd(dup(bpf_map__fd(egress_->maps.sfc_pktctx)));
    chain_stats_ = UniqueFd(dup(bpf_map__fd(egress_->maps.sfc_chain_stats)));
  }
  if (!events_) {
    events_ = UniqueFd(dup(bpf_map__fd(egress_->maps.sfc_events)));
    monitor_ = UniqueFd(dup(bpf_map__fd(egress_->maps.sfc_monitor)));
    monitor_stats_ = UniqueFd(dup(bpf_map__fd(egress_->maps.sfc_mon_stats)));
  }
  if (spec_.egress.action == EgressAction::kRedirect) {
    uint32_t key = 0, ifindex = if_nametoindex(spec_.egress.port.c_str());
    if (!ifindex) return InvalidArgument("/egress/port: no interface " + spec_.egress.port);
    if (bpf_map_update_elem(bpf_map__fd(egress_->maps.sfc_tx_port), &key, &ifindex, BPF_ANY))
      return ErrnoStatus("setting redirect port " + spec_.egress.port, errno);
  }
  return Status::Ok();
}

bool Generation::Stays(const VnfSpec& v) const {
  if (!current_) return false;
  for (const auto& c : current_->vnfs)
    if (c.name == v.name && c.type == v.type) return true;
  return false;
}

Status Generation::LoadVnf(size_t index) {
  const VnfSpec& v = spec_.vnfs[index];
  const std::string path = "/vnfs/" + std::to_string(index);
  VnfModule* module = registry_.Find(v.type);
  if (!module) return InvalidArgument(path + "/type: unknown VNF type \"" + v.type + "\"");
  VnfInstanceInfo info{spec_.name, v.name, v.type, pins_.VnfDir(spec_.name, v.name),
                       static_cast<uint32_t>(index)};
  SFC_ASSIGN_OR_RETURN(std::unique_ptr<VnfObject> vo, module->Open(info, v.config));
  bpf_object* obj = vo->object();

  SFC_RETURN_IF_ERROR(SetRodata<uint32_t>(obj, "sfc_slot", index).Wrap(path));
  SFC_RETURN_IF_ERROR(
      SetRodata<uint32_t>(obj, "sfc_fail_policy", FailPolicyValue(spec_.fail_policy)).Wrap(path));
  SFC_RETURN_IF_ERROR(SetRodata<uint8_t>(obj, "sfc_timing", spec_.timing ? 1 : 0).Wrap(path));

  const bool stays = Stays(v);
  std::vector<std::string> fresh;
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__is_internal(map)) continue;
    std::string name = bpf_map__name(map);
    if (name == kPktCtxMap) {
      SFC_RETURN_IF_ERROR(ReuseMap(map, pktctx_.get(), "chain pktctx"));
    } else if (name == kChainStatsMap) {
      SFC_RETURN_IF_ERROR(ReuseMap(map, chain_stats_.get(), "chain stats"));
    } else if (name == kProgsMap) {
      SFC_RETURN_IF_ERROR(ReuseMap(map, progs_.get(), "chain prog array"));
    } else if (name == kLatencyMap) {
      if (latency_) SFC_RETURN_IF_ERROR(ReuseMap(map, latency_.get(), "chain latency"));
    } else if (name == kEventsMap) {
      SFC_RETURN_IF_ERROR(ReuseMap(map, events_.get(), "monitor events"));
    } else if (name == kMonitorMap) {
      SFC_RETURN_IF_ERROR(ReuseMap(map, monitor_.get(), "monitor settings"));
    } else if (name == kMonitorStatsMap) {
      SFC_RETURN_IF_ERROR(ReuseMap(map, monitor_stats_.get(), "monitor counters"));
    } else if (shadow_fill_) {
      fresh.push_back(name);
    } else if (stays && vo->KeepsState(name)) {
      std::string pin = pins_.VnfMap(spec_.name, v.name, name);
      auto fd = OpenPinned(pin);
      auto minfo = fd.ok() ? MapInfo(fd->get()) : Result<bpf_map_info>(fd.status());
      if (minfo.ok() && MapCompatible(*minfo, map)) {
        SFC_RETURN_IF_ERROR(ReuseMap(map, fd->get(), pin));
        final_maps_.insert(pin);
      } else {
        log::Info("vnf.map_recreated",
                  {{"chain", spec_.name},
                   {"vnf", v.name},
                   {"map", name},
                   {"reason", minfo.ok() ? "size or type changed" : minfo.status().message()}});
        fresh.push_back(name);
      }
    } else {
      fresh.push_back(name);
    }
  }

  if (int err = bpf_object__load(obj))
    return ErrnoStatus(path + ": loading " + v.type + " program (verifier log at debug level)",
                       err);
  // Until this generation is committed or abandoned, the object may hold
  // changes to state it shares with the running generation.
  vnfs_.push_back(std::move(vo));
  if (shadow_fill_)
    SFC_RETURN_IF_ERROR(shadow_fill_(v, obj, fresh).Wrap(path));
  else
    SFC_RETURN_IF_ERROR(vnfs_.back()->Populate().Wrap(path));

  if (!latency_) {
    if (bpf_map* m = bpf_object__find_map_by_name(obj, std::string(kLatencyMap).c_str())) {
      latency_ = UniqueFd(dup(bpf_map__fd(m)));
      if (!latency_) return ErrnoStatus("duplicating latency map fd", errno);
      latency_fresh_ = true;
    }
  }
  for (const auto& name : fresh) {
    bpf_map* m = bpf_object__find_map_by_name(obj, name.c_str());
    new_maps_.push_back({bpf_map__fd(m), v.name, name});
  }
  int prog_fd = bpf_program__fd(vnfs_.back()->program());
  if (prog_fd < 0) return Internal(path + ": program of " + v.type + " not loaded");
  vnf_prog_fds_.push_back(prog_fd);
  return Status::Ok();
}

Status Generation::FillProgArray() {
  for (uint32_t slot = 0; slot < vnf_prog_fds_.size(); ++slot)
    if (bpf_map_update_elem(progs_.get(), &slot, &vnf_prog_fds_[slot], BPF_ANY))
      return ErrnoStatus("filling prog array slot " + std::to_string(slot), errno);
  uint32_t slot = vnf_prog_fds_.size();
  int egress_fd = bpf_program__fd(egress_->progs.sfc_egress);
  if (bpf_map_update_elem(progs_.get(), &slot, &egress_fd, BPF_ANY))
    return ErrnoStatus("filling prog array egress slot", errno);
  return Status::Ok();
}

// Pins the new generation's maps in its staging directory. The prog array
// goes last: when a crash interrupts Commit(), whether `progs` was moved
// tells a restarted sfcd whether every other pin was.
Status Generation::StagePins() {
  auto stage = [&](int fd, const std::string& rel) -> Status {
    std::string staged = staging_ + "/" + rel, final = pins_.ChainDir(spec_.name) + "/" + rel;
    SFC_RETURN_IF_ERROR(PinFd(fd, staged));
    moves_.push_back({staged, final, "", false});
    final_maps_.insert(final);
    return Status::Ok();
  };
  SFC_RETURN_IF_ERROR(stage(bpf_map__fd(egress_->maps.sfc_tx_port), "tx_port"));
  if (latency_fresh_) SFC_RETURN_IF_ERROR(stage(latency_.get(), "latency"));
  for (const auto& m : new_maps_) SFC_RETURN_IF_ERROR(stage(m.fd, m.vnf + "/" + m.name));
  return stage(progs_.get(), "progs");
}

Status Generation::Commit() {
  committed_ = true;
  const std::string chain_dir = pins_.ChainDir(spec_.name);
  for (Move& m : moves_) {
    Status st = Failpoint("apply.pin_move");
    if (st.ok() && PathExists(m.final)) {
      m.backup = staging_ + "/" + kReplacedDir + m.final.substr(chain_dir.size());
      st = Rename(m.final, m.backup);
      if (!st.ok()) m.backup.clear();
    }
    if (st.ok()) {
      std::string parent = fs::path(m.final).parent_path();
      if (!PathExists(parent)) created_dirs_.push_back(parent);
      st = Rename(m.staged, m.final);
    }
    if (!st.ok()) {
      if (!m.backup.empty()) (void)Rename(m.backup, m.final);
      m.backup.clear();
      UndoCommit();
      return st;
    }
    m.done = true;
  }
  return Status::Ok();
}

void Generation::UndoCommit() {
  for (auto it = moves_.rbegin(); it != moves_.rend(); ++it) {
    if (!it->done) continue;
    Status st = Rename(it->final, it->staged);
    if (st.ok() && !it->backup.empty()) st = Rename(it->backup, it->final);
    if (!st.ok())
      log::Error("chain.pin_restore_failed", {{"chain", spec_.name}, {"error", st.message()}});
    it->done = false;
    it->backup.clear();
  }
  for (auto it = created_dirs_.rbegin(); it != created_dirs_.rend(); ++it) ::rmdir(it->c_str());
  created_dirs_.clear();
  committed_ = false;  // the destructor removes the staging tree
}

void Generation::Finish() {
  (void)RemoveTree(staging_);
  // Pins of maps the new objects no longer have, and of removed VNFs.
  std::set<std::string> keep_dirs;
  for (const auto& v : spec_.vnfs) keep_dirs.insert(v.name);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pins_.ChainDir(spec_.name), ec)) {
    if (!entry.is_directory()) continue;
    std::string name = entry.path().filename();
    if (name.starts_with(PinLayout::kStagingPrefix)) continue;
    if (!keep_dirs.count(name)) {
      (void)RemoveTree(entry.path());
      continue;
    }
    for (const auto& pin : fs::directory_iterator(entry.path(), ec))
      if (!final_maps_.count(pin.path().string())) fs::remove(pin.path(), ec);
  }
  for (auto& vo : vnfs_) vo->Committed();
}

void Generation::Abandon() {
  for (auto& vo : vnfs_) vo->Abandoned();
}

}  // namespace sfc
