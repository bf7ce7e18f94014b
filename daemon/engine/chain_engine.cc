#include "engine/chain_engine.h"

#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <sfc/abi.h>
#include "common/failpoint.h"
#include "common/log.h"

namespace sfc {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// How long an old generation stays loaded after the switch, so that packets
// already inside it (an RCU read section: microseconds) finish their tail
// calls before its prog array is emptied.
constexpr auto kGenerationGrace = std::chrono::milliseconds(20);

sfc_chain_config ConfigOf(const ChainSpec& spec, uint64_t generation) {
  sfc_chain_config c{};
  c.generation = generation;
  c.fail_policy = spec.fail_policy == FailPolicy::kPass ? SFC_FAIL_PASS : SFC_FAIL_DROP;
  c.timing = spec.timing ? 1 : 0;
  return c;
}

Status WriteConfig(int fd, const sfc_chain_config& c) {
  uint32_t zero = 0;
  if (bpf_map_update_elem(fd, &zero, &c, BPF_ANY) != 0)
    return ErrnoStatus("writing chain config", errno);
  return Status::Ok();
}

// The program a 1-slot prog array (the root) or slot 0 of a prog array holds.
Result<UniqueFd> ProgInSlot(int prog_array_fd, uint32_t slot) {
  uint32_t id = 0;
  if (bpf_map_lookup_elem(prog_array_fd, &slot, &id) != 0)
    return ErrnoStatus("reading prog array slot", errno);
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return ErrnoStatus("opening program " + std::to_string(id), errno);
  return UniqueFd(fd);
}

}  // namespace

// What an Apply changed after the point where packets could see it, in the
// order it changed it. Destroying a Transaction that was not committed undoes
// every step, newest first.
class ChainEngine::Transaction {
 public:
  explicit Transaction(std::string chain) : chain_(std::move(chain)) {}
  ~Transaction() { Rollback(); }
  void OnUndo(std::function<Status()> fn) { undo_.push_back(std::move(fn)); }
  // Undoes every recorded step, newest first; a step that fails is logged
  // and the rest still run.
  void Rollback() {
    if (undo_.empty()) return;
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      Status st = (*it)();
      if (!st.ok())
        log::Error("chain.rollback_step_failed", {{"chain", chain_}, {"error", st.message()}});
    }
    log::Warn("chain.rolled_back", {{"chain", chain_}, {"steps", std::to_string(undo_.size())}});
    undo_.clear();
  }
  void Commit() { undo_.clear(); }

 private:
  std::string chain_;
  std::vector<std::function<Status()>> undo_;
};

ChainEngine::ChainEngine(Options options, const VnfRegistry& registry)
    : options_(std::move(options)),
      registry_(registry),
      pins_(options_.bpffs_root),
      attacher_(pins_) {}

VnfInstanceInfo ChainEngine::InstanceInfo(const std::string& chain, const VnfSpec& vnf,
                                          uint32_t slot) const {
  return VnfInstanceInfo{chain, vnf.name, vnf.type, pins_.VnfDir(chain, vnf.name), slot};
}

Status ChainEngine::CheckSystem(const ChainSpec& spec) const {
  if (!options_.attach) return Status::Ok();
  for (size_t i = 0; i < spec.interfaces.size(); ++i) {
    const std::string& ifname = spec.interfaces[i].name;
    std::string path = "/interfaces/" + std::to_string(i);
    if (!if_nametoindex(ifname.c_str()))
      return InvalidArgument(path + ": no interface \"" + ifname + "\" on this host");
    for (const auto& [other, chain] : chains_) {
      if (other == spec.name) continue;
      for (const auto& theirs : chain.spec.interfaces)
        if (theirs.name == ifname)
          return FailedPrecondition(path + ": interface \"" + ifname +
                                    "\" is already used by chain \"" + other + "\"");
    }
  }
  if (spec.egress.action == EgressAction::kRedirect && !if_nametoindex(spec.egress.port.c_str()))
    return InvalidArgument("/egress/port: no interface \"" + spec.egress.port + "\" on this host");
  return Status::Ok();
}

// Optimistic concurrency for orchestrators with several replicas: a caller
// that read generation N refuses to overwrite what another wrote since.
Status ChainEngine::CheckGeneration(const std::string& name,
                                    std::optional<uint64_t> expected) const {
  if (!expected) return Status::Ok();
  auto it = chains_.find(name);
  const uint64_t current = it == chains_.end() ? 0 : it->second.generation;
  if (*expected == current) return Status::Ok();
  return FailedPrecondition("expected_generation: chain \"" + name + "\" is at generation " +
                            std::to_string(current) +
                            (it == chains_.end() ? " (it does not exist)" : "") +
                            ", not the expected generation " + std::to_string(*expected));
}

Result<ChainInfo> ChainEngine::Apply(const ChainSpec& spec, bool dry_run, bool* changed,
                                     std::optional<uint64_t> expected_generation) {
  std::lock_guard lock(mu_);
  *changed = false;
  SFC_RETURN_IF_ERROR(CheckGeneration(spec.name, expected_generation));
  return ApplyLocked(spec, dry_run, /*rebuild=*/false, changed);
}

// An Apply in four steps:
//  1. prepare the new generation off to the side (verifier, tables, staged
//     pins) and save the spec — nothing a packet can see changes;
//  2. switch: the chain config and the root slot (one write moves every
//     packet to the new generation);
//  3. interfaces added, removed or re-moded, and the staged pins moved in
//     place — each step recorded in a Transaction, undone if a later one fails;
//  4. the point of no return: release the old generation, run module hooks.
Result<ChainInfo> ChainEngine::ApplyLocked(const ChainSpec& spec, bool dry_run, bool rebuild,
                                           bool* changed) {
  *changed = false;
  auto it = chains_.find(spec.name);
  const Chain* current = it == chains_.end() ? nullptr : &it->second;
  SFC_RETURN_IF_ERROR(CheckSystem(spec));

  if (current && current->spec == spec && !dry_run && !rebuild) {
    bool healthy = true;
    for (const auto& a : Describe(*current).attachments) healthy &= a.attached || !options_.attach;
    if (healthy) return Describe(*current);
  }

  const uint64_t number = current ? current->generation + 1 : 1;
  const bool fresh = current == nullptr;
  Generation gen(pins_, registry_, spec, current ? &current->spec : nullptr, number);
  Transaction txn(spec.name);
  auto fail = [&](const Status& st) -> Status {
    txn.Rollback();
    gen.Abandon();
    log::Warn("chain.apply_failed", {{"chain", spec.name}, {"error", st.message()}});
    return st;
  };

  // 1. Prepare.
  Status st = gen.Prepare(/*pin=*/!dry_run);
  if (st.ok() && dry_run)  // the entry program must pass the verifier too
    st = EntryProgram::Load({gen.pktctx_fd(), gen.chain_stats_fd(), -1, -1, gen.events_fd(),
                             gen.monitor_fd(), gen.monitor_stats_fd()})
             .status();
  if (!st.ok()) return fail(st);
  if (dry_run) {
    gen.Abandon();
    return Describe(Chain{spec, number, std::chrono::system_clock::now()});
  }

  if (fresh) {
    // A new chain that fails half-way leaves nothing behind.
    txn.OnUndo([this, name = spec.name] {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(pins_.ChainDir(name), ec))
        if (std::string f = entry.path().filename(); f.starts_with("entry-"))
          (void)attacher_.Detach(name, f.substr(6));
      return RemoveTree(pins_.ChainDir(name));
    });
    st = gen.PinSharedMaps();
    if (st.ok()) st = CreateChainMaps(spec.name);
    if (!st.ok()) return fail(st);
  } else if (st = gen.PinSharedMaps(); !st.ok()) {  // monitor maps an older sfcd did not pin
    return fail(st);
  }
  Chain next{spec, number, std::chrono::system_clock::now()};
  if (st = Failpoint("apply.save"); st.ok()) st = SaveState(next);
  if (!st.ok()) return fail(st.Wrap("saving the chain spec"));
  txn.OnUndo([this, fresh, name = spec.name, old = current ? *current : Chain{}] {
    return fresh ? RemoveState(name) : SaveState(old);
  });
  if (st = Failpoint("apply.before_switch"); !st.ok()) return fail(st);

  // 2. The switch.
  if (st = SwitchRoot(spec.name, gen, txn); !st.ok()) return fail(st);
  if (st = Failpoint("apply.after_switch"); !st.ok()) return fail(st);

  // 3. Interfaces and pins.
  if (options_.attach) {
    if (st = SyncAttachments(spec, current, txn); !st.ok()) return fail(st);
  }
  if (st = Failpoint("apply.commit"); st.ok()) st = gen.Commit();
  if (!st.ok()) return fail(st);
  txn.OnUndo([&gen] {
    gen.UndoCommit();
    return Status::Ok();
  });
  if (st = Failpoint("apply.after_commit"); !st.ok()) return fail(st);

  // 4. No return.
  txn.Commit();
  gen.Finish();
  std::this_thread::sleep_for(kGenerationGrace);  // the old generation drains
  RunUpHooks(spec, current ? &current->spec : nullptr);
  chains_[spec.name] = next;
  *changed = true;
  log::Info("chain.applied", {{"chain", spec.name},
                              {"generation", std::to_string(number)},
                              {"vnfs", std::to_string(spec.vnfs.size())}});
  return Describe(next);
}

// A new chain's root slot and config map, pinned; without attachments (tests,
// benchmarks) also its one unattached entry program. The config map comes
// from a loaded entry object so that it carries BTF and bpftool shows its
// fields by name.
Status ChainEngine::CreateChainMaps(const std::string& chain) {
  UniqueFd root(bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "sfc_root", sizeof(uint32_t),
                               sizeof(uint32_t), 1, nullptr));
  if (!root) return ErrnoStatus("creating root prog array", errno);
  SFC_ASSIGN_OR_RETURN(UniqueFd pktctx, OpenPinned(pins_.PktCtx(chain)));
  SFC_ASSIGN_OR_RETURN(UniqueFd stats, OpenPinned(pins_.ChainStats(chain)));
  SFC_ASSIGN_OR_RETURN(UniqueFd events, OpenPinned(pins_.Events(chain)));
  SFC_ASSIGN_OR_RETURN(UniqueFd monitor, OpenPinned(pins_.Monitor(chain)));
  SFC_ASSIGN_OR_RETURN(UniqueFd monitor_stats, OpenPinned(pins_.MonitorStats(chain)));
  SFC_ASSIGN_OR_RETURN(EntryProgram entry,
                       EntryProgram::Load({pktctx.get(), stats.get(), root.get(), -1, events.get(),
                                           monitor.get(), monitor_stats.get()}));
  SFC_RETURN_IF_ERROR(PinFd(entry.config_fd(), pins_.Config(chain)));
  if (!options_.attach) SFC_RETURN_IF_ERROR(PinFd(entry.fd(), pins_.DetachedEntry(chain)));
  return PinFd(root.get(), pins_.Root(chain));
}

// Points the chain at the new generation: config first (harmless to the old
// generation: its VNFs ignore the timing stamp they were not built for), then
// the root slot, then the generation number (which adoption reads to tell a
// finished switch from an interrupted one).
Status ChainEngine::SwitchRoot(const std::string& chain, const Generation& gen, Transaction& txn) {
  SFC_ASSIGN_OR_RETURN(UniqueFd root, OpenPinned(pins_.Root(chain)));
  SFC_ASSIGN_OR_RETURN(UniqueFd config, OpenPinned(pins_.Config(chain)));
  sfc_chain_config old_config{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(config.get(), &zero, &old_config) != 0)
    return ErrnoStatus("reading chain config", errno);
  auto old_first = ProgInSlot(root.get(), 0);  // NOT_FOUND-like failure: a new chain

  sfc_chain_config next = ConfigOf(gen.spec(), old_config.generation);
  SFC_RETURN_IF_ERROR(WriteConfig(config.get(), next));
  int first = gen.first_prog_fd();
  if (bpf_map_update_elem(root.get(), &zero, &first, BPF_ANY) != 0) {
    int err = errno;
    (void)WriteConfig(config.get(), old_config);
    return ErrnoStatus("switching the chain root to generation " + std::to_string(gen.number()),
                       err);
  }
  next.generation = gen.number();
  Status st = WriteConfig(config.get(), next);
  txn.OnUndo([root_fd = std::make_shared<UniqueFd>(std::move(root)),
              config_fd = std::make_shared<UniqueFd>(std::move(config)), old_config,
              old = std::make_shared<Result<UniqueFd>>(std::move(old_first))]() -> Status {
    uint32_t key = 0;
    if (old->ok()) {
      int fd = (*old)->get();
      if (bpf_map_update_elem(root_fd->get(), &key, &fd, BPF_ANY) != 0)
        return ErrnoStatus("restoring the chain root", errno);
    } else if (bpf_map_delete_elem(root_fd->get(), &key) != 0 && errno != ENOENT) {
      return ErrnoStatus("emptying the chain root", errno);
    }
    return WriteConfig(config_fd->get(), old_config);
  });
  return st;
}

// Attaches interfaces the spec adds, re-attaches those whose mode changed,
// detaches those it drops; every change registered for undo.
Status ChainEngine::SyncAttachments(const ChainSpec& spec, const Chain* current, Transaction& txn) {
  const std::string& chain = spec.name;
  auto previous = [&](const std::string& ifname) -> const InterfaceSpec* {
    if (current)
      for (const auto& c : current->spec.interfaces)
        if (c.name == ifname) return &c;
    return nullptr;
  };
  auto attached = [&](const std::string& ifname) {
    int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    auto fd = OpenPinned(pins_.Entry(chain, ifname));
    return ifindex && fd.ok() && QueryAttachment(ifindex, ProgId(fd->get())).attached;
  };
  auto detach = [&](const std::string& ifname) -> Status {
    SFC_ASSIGN_OR_RETURN(DetachedEntry gone, attacher_.Detach(chain, ifname));
    txn.OnUndo([this, chain, gone = std::make_shared<DetachedEntry>(std::move(gone))] {
      return attacher_.Reattach(chain, *gone);
    });
    return Status::Ok();
  };
  auto attach = [&](const InterfaceSpec& iface) -> Status {
    SFC_RETURN_IF_ERROR(attacher_.Attach(chain, iface));
    txn.OnUndo([this, chain, name = iface.name] { return attacher_.Detach(chain, name).status(); });
    return Status::Ok();
  };

  for (const auto& iface : spec.interfaces) {
    const InterfaceSpec* was = previous(iface.name);
    const bool is_attached = attached(iface.name);
    if (is_attached && (!was || *was == iface)) continue;
    if (is_attached)
      SFC_RETURN_IF_ERROR(detach(iface.name));  // mode change: the kernel takes one mode at a time
    SFC_RETURN_IF_ERROR(attach(iface));
  }
  // Every entry pin of an interface the spec no longer has (also those a
  // crashed Apply left behind).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pins_.ChainDir(chain), ec)) {
    std::string file = entry.path().filename();
    if (!file.starts_with("entry-")) continue;
    std::string ifname = file.substr(6);
    bool keep = false;
    for (const auto& n : spec.interfaces) keep |= n.name == ifname;
    if (!keep) SFC_RETURN_IF_ERROR(detach(ifname));
  }
  return Status::Ok();
}

void ChainEngine::RunUpHooks(const ChainSpec& spec, const ChainSpec* previous) {
  if (previous)
    for (const auto& old : previous->vnfs) {
      bool stays = false;
      for (const auto& v : spec.vnfs) stays |= v.name == old.name && v.type == old.type;
      if (!stays)
        if (VnfModule* m = registry_.Find(old.type))
          m->OnInstanceDown(InstanceInfo(spec.name, old, 0));
    }
  for (size_t i = 0; i < spec.vnfs.size(); ++i)
    if (VnfModule* m = registry_.Find(spec.vnfs[i].type))
      m->OnInstanceUp(InstanceInfo(spec.name, spec.vnfs[i], i), spec.vnfs[i].config);
}

Status ChainEngine::Delete(std::string_view name, std::optional<uint64_t> expected_generation) {
  std::lock_guard lock(mu_);
  if (expected_generation && !chains_.contains(name) &&
      !PathExists(pins_.ChainDir(std::string(name))))
    return NotFound("no chain \"" + std::string(name) + "\"");
  SFC_RETURN_IF_ERROR(CheckGeneration(std::string(name), expected_generation));
  return DeleteLocked(std::string(name));
}

Status ChainEngine::DeleteLocked(const std::string& name) {
  auto it = chains_.find(name);
  if (it == chains_.end()) {
    if (!PathExists(pins_.ChainDir(name))) return NotFound("no chain \"" + name + "\"");
    // An orphan: pinned without a saved spec. Deleting it is how to clean up.
  }
  Status result = Status::Ok();
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pins_.ChainDir(name), ec)) {
    std::string file = entry.path().filename();
    if (file.starts_with("entry-")) {
      Status st = attacher_.Detach(name, file.substr(6)).status();
      if (!st.ok()) result = st;
    }
  }
  if (it != chains_.end()) {
    for (size_t i = 0; i < it->second.spec.vnfs.size(); ++i) {
      const VnfSpec& v = it->second.spec.vnfs[i];
      if (VnfModule* m = registry_.Find(v.type)) m->OnInstanceDown(InstanceInfo(name, v, i));
    }
    chains_.erase(it);
  }
  SFC_RETURN_IF_ERROR(RemoveTree(pins_.ChainDir(name)));
  SFC_RETURN_IF_ERROR(RemoveState(name));
  log::Info("chain.deleted", {{"chain", name}});
  return result;
}

void ChainEngine::Shutdown() {
  for (const auto& type : registry_.Types()) registry_.Find(type)->Stop();
}

void ChainEngine::DetachAll() {
  std::lock_guard lock(mu_);
  for (const auto& [name, chain] : chains_)
    for (const auto& iface : chain.spec.interfaces) (void)attacher_.Detach(name, iface.name);
}

Result<ChainInfo> ChainEngine::Get(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = chains_.find(name);
  if (it == chains_.end()) return NotFound("no chain \"" + std::string(name) + "\"");
  return Describe(it->second);
}

std::vector<ChainInfo> ChainEngine::List() {
  std::lock_guard lock(mu_);
  std::vector<ChainInfo> out;
  for (const auto& [_, chain] : chains_) out.push_back(Describe(chain));
  return out;
}

ChainInfo ChainEngine::Describe(const Chain& chain) const {
  ChainInfo info;
  info.spec = chain.spec;
  info.generation = chain.generation;
  info.applied_at = chain.applied_at;
  info.pin_dir = pins_.ChainDir(chain.spec.name);
  for (const auto& iface : chain.spec.interfaces) {
    AttachmentInfo a;
    a.interface = iface.name;
    a.ifindex = if_nametoindex(iface.name.c_str());
    if (auto fd = OpenPinned(pins_.Entry(chain.spec.name, iface.name)); fd.ok()) {
      a.prog_id = ProgId(fd->get());
      if (a.ifindex) {
        AttachedState st = QueryAttachment(a.ifindex, a.prog_id);
        a.attached = st.attached;
        a.mode = st.mode;
        a.libxdp_mode = st.libxdp_mode;
      }
    }
    info.attachments.push_back(a);
  }
  auto progs = OpenPinned(pins_.Progs(chain.spec.name));
  for (size_t i = 0; i < chain.spec.vnfs.size(); ++i) {
    VnfInfo v{chain.spec.vnfs[i].name, chain.spec.vnfs[i].type, static_cast<uint32_t>(i), 0,
              pins_.VnfDir(chain.spec.name, chain.spec.vnfs[i].name)};
    uint32_t key = i, id = 0;
    if (progs.ok() && bpf_map_lookup_elem(progs->get(), &key, &id) == 0) v.prog_id = id;
    info.vnfs.push_back(v);
  }
  return info;
}

Result<ChainCounters> ChainEngine::Counters(std::string_view chain_name, std::string_view vnf,
                                            bool latency) {
  std::lock_guard lock(mu_);
  auto it = chains_.find(chain_name);
  if (it == chains_.end()) return NotFound("no chain \"" + std::string(chain_name) + "\"");
  const ChainSpec& spec = it->second.spec;
  ChainCounters out;
  SFC_ASSIGN_OR_RETURN(UniqueFd cs, OpenPinned(pins_.ChainStats(spec.name)));
  SFC_ASSIGN_OR_RETURN(out.chain, ReadPerCpuCounters(cs.get()));
  out.timing = spec.timing;
  UniqueFd lat;
  if (latency) {
    auto fd = OpenPinned(pins_.Latency(spec.name));
    if (fd.ok()) lat = std::move(*fd);
  }
  bool found = vnf.empty();
  for (uint32_t slot = 0; slot < spec.vnfs.size(); ++slot) {
    const VnfSpec& v = spec.vnfs[slot];
    if (!vnf.empty() && v.name != vnf) continue;
    found = true;
    SFC_ASSIGN_OR_RETURN(UniqueFd fd, OpenPinned(pins_.VnfMap(spec.name, v.name, "stats")));
    SFC_ASSIGN_OR_RETURN(NamedCounters c, ReadPerCpuCounters(fd.get()));
    out.vnfs.push_back({v.name, v.type, std::move(c), std::nullopt});
    if (lat) {
      SFC_ASSIGN_OR_RETURN(out.vnfs.back().latency, ReadLatencyHistogram(lat.get(), slot));
    }
  }
  if (!found)
    return NotFound("chain \"" + spec.name + "\" has no VNF \"" + std::string(vnf) + "\"");
  return out;
}

Status ChainEngine::WithVnf(std::string_view chain, std::string_view vnf, std::string_view type,
                            const std::function<Status(VnfRef&)>& fn) {
  std::lock_guard lock(mu_);
  auto it = chains_.find(chain);
  if (it == chains_.end()) return NotFound("no chain \"" + std::string(chain) + "\"");
  const ChainSpec& spec = it->second.spec;
  for (size_t i = 0; i < spec.vnfs.size(); ++i) {
    if (spec.vnfs[i].name != vnf) continue;
    if (spec.vnfs[i].type != type)
      return FailedPrecondition("VNF \"" + std::string(vnf) + "\" of chain \"" + spec.name +
                                "\" is a " + spec.vnfs[i].type + ", not a " + std::string(type));
    VnfRef ref{InstanceInfo(spec.name, spec.vnfs[i], i), spec.vnfs[i].config,
               registry_.Find(spec.vnfs[i].type)};
    return fn(ref);
  }
  return NotFound("chain \"" + spec.name + "\" has no VNF \"" + std::string(vnf) + "\"");
}

Status ChainEngine::StoreVnfConfig(VnfRef& ref, json config) {
  // Called with mu_ held, from inside WithVnf.
  auto it = chains_.find(ref.info.chain);
  if (it == chains_.end()) return NotFound("no chain \"" + ref.info.chain + "\"");
  for (auto& v : it->second.spec.vnfs)
    if (v.name == ref.info.name) v.config = config;
  ref.config = std::move(config);
  return SaveState(it->second);
}

std::vector<VnfRef> ChainEngine::Instances(std::string_view type) {
  std::lock_guard lock(mu_);
  std::vector<VnfRef> out;
  for (const auto& [name, chain] : chains_)
    for (size_t i = 0; i < chain.spec.vnfs.size(); ++i)
      if (chain.spec.vnfs[i].type == type)
        out.push_back({InstanceInfo(name, chain.spec.vnfs[i], i), chain.spec.vnfs[i].config,
                       registry_.Find(type)});
  return out;
}

std::vector<VnfInstanceInfo> ChainEngine::InstanceInfos() {
  std::lock_guard lock(mu_);
  std::vector<VnfInstanceInfo> out;
  for (const auto& [name, chain] : chains_)
    for (size_t i = 0; i < chain.spec.vnfs.size(); ++i)
      out.push_back(InstanceInfo(name, chain.spec.vnfs[i], i));
  return out;
}

std::vector<std::string> ChainEngine::ChainNames() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, chain] : chains_) out.push_back(name);
  return out;
}

Status ChainEngine::SaveState(const Chain& chain) const {
  json doc = {{"spec", chain.spec.ToJson()},
              {"generation", chain.generation},
              {"applied_at",
               std::chrono::duration_cast<std::chrono::seconds>(chain.applied_at.time_since_epoch())
                   .count()}};
  const std::string dir = options_.state_dir + "/chains";
  const std::string path = dir + "/" + chain.spec.name + ".json";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << doc.dump(2) << "\n";
    out.flush();
    if (!out) return Internal("writing " + tmp);
  }
  // fsync before rename: after a crash the file is the old spec or the new, whole.
  if (int fd = ::open(tmp.c_str(), O_RDONLY); fd >= 0) {
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) return ErrnoStatus("syncing " + tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("renaming " + tmp, errno);
  return Status::Ok();
}

Status ChainEngine::RemoveState(const std::string& name) const {
  std::string path = options_.state_dir + "/chains/" + name + ".json";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("removing " + path, errno);
  return Status::Ok();
}

}  // namespace sfc
