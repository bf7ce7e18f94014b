#include "engine/chain_engine.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "egress.skel.h"
#include "entry.skel.h"
#include <sfc/abi.h>

namespace sfc {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// How long an old generation stays loaded after the switch, so that packets
// already inside it (an RCU read section: microseconds) finish their tail
// calls before its prog array is emptied.
constexpr auto kGenerationGrace = std::chrono::milliseconds(20);

// Chain-level maps every object of a chain shares.
constexpr std::string_view kPktCtxMap = "sfc_pktctx";
constexpr std::string_view kChainStatsMap = "sfc_chain_stats";
constexpr std::string_view kProgsMap = "sfc_progs";

template <typename Skel>
struct SkelDeleter;
template <>
struct SkelDeleter<sfc_egress> {
  void operator()(sfc_egress* s) const { sfc_egress__destroy(s); }
};
template <>
struct SkelDeleter<sfc_entry> {
  void operator()(sfc_entry* s) const { sfc_entry__destroy(s); }
};
template <typename Skel>
using SkelPtr = std::unique_ptr<Skel, SkelDeleter<Skel>>;

struct XdpProgramCloser {
  void operator()(xdp_program* p) const { xdp_program__close(p); }
};
using XdpProgramPtr = std::unique_ptr<xdp_program, XdpProgramCloser>;
struct XdpMultiprogCloser {
  void operator()(xdp_multiprog* p) const { xdp_multiprog__close(p); }
};
using XdpMultiprogPtr = std::unique_ptr<xdp_multiprog, XdpMultiprogCloser>;

Status ReuseMap(bpf_map* map, int fd, const std::string& what) {
  int err = bpf_map__reuse_fd(map, fd);
  if (err) return ErrnoStatus("reusing " + what + " for map " + bpf_map__name(map), err);
  return Status::Ok();
}

uint32_t ProgId(int prog_fd) {
  auto info = ProgInfo(prog_fd);
  return info.ok() ? info->id : 0;
}

uint32_t EgressActionValue(EgressAction a) {
  switch (a) {
    case EgressAction::kPass: return SFC_EGRESS_PASS;
    case EgressAction::kTx: return SFC_EGRESS_TX;
    case EgressAction::kRedirect: return SFC_EGRESS_REDIRECT;
    case EgressAction::kFib: return SFC_EGRESS_FIB;
  }
  return SFC_EGRESS_PASS;
}

uint32_t FailPolicyValue(FailPolicy p) { return p == FailPolicy::kPass ? SFC_FAIL_PASS : SFC_FAIL_DROP; }

std::string LibxdpError(int err) {
  char buf[256];
  libxdp_strerror(err, buf, sizeof(buf));
  return buf;
}

// Which of our programs is attached to ifindex, as libxdp sees it.
struct AttachedState {
  bool attached = false;
  std::string mode;
  std::string libxdp_mode;
};
AttachedState QueryAttachment(int ifindex, uint32_t prog_id) {
  AttachedState st;
  XdpMultiprogPtr mp(xdp_multiprog__get_from_ifindex(ifindex));
  if (!mp || libxdp_get_error(mp.get())) {
    mp.release();
    return st;
  }
  switch (xdp_multiprog__attach_mode(mp.get())) {
    case XDP_MODE_NATIVE: st.mode = "native"; break;
    case XDP_MODE_SKB: st.mode = "generic"; break;
    case XDP_MODE_HW: st.mode = "hw"; break;
    default: st.mode = "none"; break;
  }
  if (xdp_multiprog__is_legacy(mp.get())) {
    st.libxdp_mode = "single-program";
    xdp_program* main = xdp_multiprog__main_prog(mp.get());
    st.attached = main && xdp_program__id(main) == prog_id;
  } else {
    st.libxdp_mode = "dispatcher";
    for (xdp_program* p = xdp_multiprog__next_prog(nullptr, mp.get()); p;
         p = xdp_multiprog__next_prog(p, mp.get()))
      st.attached |= xdp_program__id(p) == prog_id;
  }
  return st;
}

}  // namespace

// Everything a new generation of a chain needs, prepared off to the side.
// Destroying it before Commit() leaves the running chain as it was.
class ChainEngine::Generation {
 public:
  Generation(ChainEngine& engine, const ChainSpec& spec, const Chain* current, uint64_t number)
      : engine_(engine), spec_(spec), current_(current), number_(number),
        staging_(engine.pins_.Staging(spec.name, number)) {}

  ~Generation() {
    if (!committed_) (void)RemoveTree(staging_);
  }

  // Loads every program (through the verifier) and fills the new prog array.
  Status Prepare(bool pin) {
    SFC_RETURN_IF_ERROR(OpenSharedMaps());
    SFC_RETURN_IF_ERROR(LoadEgress());
    progs_ = UniqueFd(bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "sfc_progs", sizeof(uint32_t),
                                     sizeof(uint32_t), SFC_PROG_SLOTS, nullptr));
    if (!progs_) return ErrnoStatus("creating prog array", errno);
    for (size_t i = 0; i < spec_.vnfs.size(); ++i) SFC_RETURN_IF_ERROR(LoadVnf(i));
    SFC_RETURN_IF_ERROR(FillProgArray());
    if (pin) SFC_RETURN_IF_ERROR(StagePins());
    return Status::Ok();
  }

  // After the switch: moves staged pins into place and removes what the new
  // generation no longer has.
  Status Commit() {
    committed_ = true;
    for (const auto& [from, to] : moves_) {
      SFC_RETURN_IF_ERROR(MakeDirs(fs::path(to).parent_path()));
      if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("moving pin to " + to, errno);
    }
    (void)RemoveTree(staging_);
    // Pins of maps the new objects no longer have, and of removed VNFs.
    std::set<std::string> keep_dirs;
    for (const auto& v : spec_.vnfs) keep_dirs.insert(v.name);
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(engine_.pins_.ChainDir(spec_.name), ec)) {
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
    return Status::Ok();
  }

  int first_prog_fd() const {
    return vnf_prog_fds_.empty() ? bpf_program__fd(egress_->progs.sfc_egress) : vnf_prog_fds_[0];
  }
  int pktctx_fd() const { return pktctx_.get(); }
  int chain_stats_fd() const { return chain_stats_.get(); }

  // A new chain's shared maps come from the egress object's BTF-typed ones.
  Status PinSharedMaps() {
    SFC_RETURN_IF_ERROR(PinFd(pktctx_.get(), engine_.pins_.PktCtx(spec_.name)));
    return PinFd(chain_stats_.get(), engine_.pins_.ChainStats(spec_.name));
  }

 private:
  Status OpenSharedMaps() {
    if (!current_) return Status::Ok();  // created by the egress object below
    const std::string& name = spec_.name;
    SFC_ASSIGN_OR_RETURN(pktctx_, OpenPinned(engine_.pins_.PktCtx(name)));
    SFC_ASSIGN_OR_RETURN(chain_stats_, OpenPinned(engine_.pins_.ChainStats(name)));
    return Status::Ok();
  }

  Status LoadEgress() {
    egress_.reset(sfc_egress__open());
    if (!egress_) return ErrnoStatus("opening egress object", errno);
    egress_->rodata->sfc_egress_action = EgressActionValue(spec_.egress.action);
    egress_->rodata->sfc_fail_policy = FailPolicyValue(spec_.fail_policy);
    if (pktctx_) {
      SFC_RETURN_IF_ERROR(ReuseMap(egress_->maps.sfc_pktctx, pktctx_.get(), "chain pktctx"));
      SFC_RETURN_IF_ERROR(ReuseMap(egress_->maps.sfc_chain_stats, chain_stats_.get(), "chain stats"));
    }
    if (int err = sfc_egress__load(egress_.get()))
      return ErrnoStatus("loading egress program (see libbpf log)", err);
    if (!pktctx_) {
      pktctx_ = UniqueFd(dup(bpf_map__fd(egress_->maps.sfc_pktctx)));
      chain_stats_ = UniqueFd(dup(bpf_map__fd(egress_->maps.sfc_chain_stats)));
    }
    if (spec_.egress.action == EgressAction::kRedirect) {
      uint32_t key = 0, ifindex = if_nametoindex(spec_.egress.port.c_str());
      if (!ifindex) return InvalidArgument("/egress/port: no interface " + spec_.egress.port);
      if (bpf_map_update_elem(bpf_map__fd(egress_->maps.sfc_tx_port), &key, &ifindex, BPF_ANY))
        return ErrnoStatus("setting redirect port " + spec_.egress.port, errno);
    }
    return Status::Ok();
  }

  const VnfSpec* CurrentInstance(const VnfSpec& v) const {
    if (!current_) return nullptr;
    for (const auto& c : current_->spec.vnfs)
      if (c.name == v.name && c.type == v.type) return &c;
    return nullptr;
  }

  Status LoadVnf(size_t index) {
    const VnfSpec& v = spec_.vnfs[index];
    const std::string path = "/vnfs/" + std::to_string(index);
    VnfModule* module = engine_.registry_.Find(v.type);
    if (!module) return InvalidArgument(path + "/type: unknown VNF type \"" + v.type + "\"");
    VnfInstanceInfo info = engine_.InstanceInfo(spec_.name, v, index);
    SFC_ASSIGN_OR_RETURN(std::unique_ptr<VnfObject> vo, module->Open(info, v.config));
    bpf_object* obj = vo->object();

    SFC_RETURN_IF_ERROR(SetRodata<uint32_t>(obj, "sfc_slot", index).Wrap(path));
    SFC_RETURN_IF_ERROR(SetRodata<uint32_t>(obj, "sfc_fail_policy", FailPolicyValue(spec_.fail_policy)).Wrap(path));
    SFC_RETURN_IF_ERROR(SetRodata<uint8_t>(obj, "sfc_timing", spec_.timing ? 1 : 0).Wrap(path));

    const bool stays = CurrentInstance(v) != nullptr;
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
      } else if (stays && vo->KeepsState(name)) {
        std::string pin = engine_.pins_.VnfMap(spec_.name, v.name, name);
        auto fd = OpenPinned(pin);
        auto info = fd.ok() ? MapInfo(fd->get()) : Result<bpf_map_info>(fd.status());
        if (info.ok() && MapCompatible(*info, map)) {
          SFC_RETURN_IF_ERROR(ReuseMap(map, fd->get(), pin));
          final_maps_.insert(pin);
        } else {
          log::Info("vnf.map_recreated", {{"chain", spec_.name}, {"vnf", v.name}, {"map", name},
                                          {"reason", info.ok() ? "size or type changed" : info.status().message()}});
          fresh.push_back(name);
        }
      } else {
        fresh.push_back(name);
      }
    }

    if (int err = bpf_object__load(obj))
      return ErrnoStatus(path + ": loading " + v.type + " program (verifier log at debug level)", err);
    SFC_RETURN_IF_ERROR(vo->Populate().Wrap(path));

    for (const auto& name : fresh) {
      bpf_map* m = bpf_object__find_map_by_name(obj, name.c_str());
      new_maps_.push_back({bpf_map__fd(m), v.name, name});
    }
    int prog_fd = bpf_program__fd(vo->program());
    if (prog_fd < 0) return Internal(path + ": program of " + v.type + " not loaded");
    vnf_prog_fds_.push_back(prog_fd);
    vnfs_.push_back(std::move(vo));
    return Status::Ok();
  }

  Status FillProgArray() {
    for (uint32_t slot = 0; slot < vnf_prog_fds_.size(); ++slot)
      if (bpf_map_update_elem(progs_.get(), &slot, &vnf_prog_fds_[slot], BPF_ANY))
        return ErrnoStatus("filling prog array slot " + std::to_string(slot), errno);
    uint32_t slot = vnf_prog_fds_.size();
    int egress_fd = bpf_program__fd(egress_->progs.sfc_egress);
    if (bpf_map_update_elem(progs_.get(), &slot, &egress_fd, BPF_ANY))
      return ErrnoStatus("filling prog array egress slot", errno);
    return Status::Ok();
  }

  // Pins the new generation's maps in its staging directory; Commit() moves
  // them in place once packets run through the new generation.
  Status StagePins() {
    const PinLayout& p = engine_.pins_;
    auto stage = [&](int fd, const std::string& rel) -> Status {
      std::string from = staging_ + "/" + rel, to = p.ChainDir(spec_.name) + "/" + rel;
      SFC_RETURN_IF_ERROR(PinFd(fd, from));
      moves_.emplace_back(from, to);
      final_maps_.insert(to);
      return Status::Ok();
    };
    SFC_RETURN_IF_ERROR(stage(progs_.get(), "progs"));
    SFC_RETURN_IF_ERROR(stage(bpf_map__fd(egress_->maps.sfc_tx_port), "tx_port"));
    for (const auto& m : new_maps_) SFC_RETURN_IF_ERROR(stage(m.fd, m.vnf + "/" + m.name));
    return Status::Ok();
  }

  struct NewMap {
    int fd;
    std::string vnf, name;
  };

  ChainEngine& engine_;
  const ChainSpec& spec_;
  const Chain* current_;
  uint64_t number_;
  std::string staging_;
  bool committed_ = false;

  UniqueFd pktctx_, chain_stats_, progs_;
  SkelPtr<sfc_egress> egress_;
  std::vector<std::unique_ptr<VnfObject>> vnfs_;
  std::vector<int> vnf_prog_fds_;
  std::vector<NewMap> new_maps_;
  std::vector<std::pair<std::string, std::string>> moves_;
  std::set<std::string> final_maps_;
};

ChainEngine::ChainEngine(Options options, const VnfRegistry& registry)
    : options_(std::move(options)), registry_(registry), pins_(options_.bpffs_root) {}

VnfInstanceInfo ChainEngine::InstanceInfo(const std::string& chain, const VnfSpec& vnf,
                                          uint32_t slot) const {
  return VnfInstanceInfo{chain, vnf.name, vnf.type, pins_.VnfDir(chain, vnf.name), slot};
}

// bpffs must be mounted where the root lives; on a bare system it may not be.
static Status EnsureBpffs(const std::string& root) {
  constexpr const char* kDefaultMount = "/sys/fs/bpf";
  struct statfs st;
  if (statfs(kDefaultMount, &st) == 0 && st.f_type == BPF_FS_MAGIC) return Status::Ok();
  if (!root.starts_with(kDefaultMount)) return Status::Ok();  // the operator's own mount
  if (::mount("bpf", kDefaultMount, "bpf", 0, "mode=0700") != 0)
    return ErrnoStatus(std::string("mounting bpffs on ") + kDefaultMount, errno);
  log::Info("bpffs.mounted", {{"path", kDefaultMount}});
  return Status::Ok();
}

Status ChainEngine::Start() {
  SFC_RETURN_IF_ERROR(EnsureBpffs(options_.bpffs_root));
  SFC_RETURN_IF_ERROR(MakeDirs(options_.bpffs_root));
  SFC_RETURN_IF_ERROR(MakeDirs(options_.state_dir + "/chains"));
  std::lock_guard lock(mu_);

  std::error_code ec;
  std::set<std::string> saved;
  for (const auto& entry : fs::directory_iterator(options_.state_dir + "/chains", ec)) {
    if (entry.path().extension() != ".json") continue;
    std::string name = entry.path().stem();
    saved.insert(name);
    std::ifstream in(entry.path());
    json doc = json::parse(in, nullptr, false);
    auto spec = doc.is_discarded() || !doc.contains("spec")
                    ? Result<ChainSpec>(InvalidArgument("unreadable state file"))
                    : ParseChainSpec(doc["spec"], registry_);
    if (!spec.ok()) {
      log::Error("chain.adopt_failed", {{"chain", name}, {"file", entry.path().string()},
                                        {"error", spec.status().message()}});
      continue;
    }
    Chain chain{std::move(spec).value(), doc.value("generation", uint64_t{1}),
                std::chrono::system_clock::time_point(
                    std::chrono::seconds(doc.value("applied_at", int64_t{0})))};
    Status st = Adopt(name, std::move(chain));
    if (!st.ok()) log::Error("chain.adopt_failed", {{"chain", name}, {"error", st.message()}});
  }
  for (const auto& entry : fs::directory_iterator(options_.bpffs_root, ec)) {
    std::string name = entry.path().filename();
    if (entry.is_directory() && !saved.count(name))
      log::Warn("chain.orphan", {{"chain", name}, {"pin_dir", entry.path().string()},
                                 {"hint", "pinned but no saved spec; apply it again or delete it"}});
  }
  return Status::Ok();
}

// A chain that survived a restart keeps running untouched; only what is
// missing (a detached interface, lost pins) is rebuilt from the saved spec.
Status ChainEngine::Adopt(const std::string& name, Chain chain) {
  // Leftovers of an Apply the previous daemon did not finish.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pins_.ChainDir(name), ec))
    if (entry.path().filename().string().starts_with(PinLayout::kStagingPrefix)) (void)RemoveTree(entry.path());

  bool complete = PathExists(pins_.Root(name)) && PathExists(pins_.Progs(name)) &&
                  PathExists(pins_.ChainStats(name));
  for (const auto& v : chain.spec.vnfs) complete &= PathExists(pins_.VnfDir(name, v.name));
  if (!complete) {
    log::Warn("chain.rebuild", {{"chain", name}, {"reason", "pins incomplete"}});
    bool changed = false;
    return ApplyLocked(chain.spec, false, &changed).status();
  }

  chains_[name] = chain;
  if (options_.attach) {
    for (const auto& iface : chain.spec.interfaces) {
      int ifindex = if_nametoindex(iface.name.c_str());
      auto fd = OpenPinned(pins_.Entry(name, iface.name));
      if (ifindex && fd.ok() && QueryAttachment(ifindex, ProgId(fd->get())).attached) continue;
      log::Warn("chain.reattach", {{"chain", name}, {"interface", iface.name}});
      (void)::unlink(pins_.Entry(name, iface.name).c_str());
      Status st = AttachEntry(chain.spec, iface);
      if (!st.ok()) log::Error("chain.reattach_failed", {{"chain", name}, {"interface", iface.name},
                                                          {"error", st.message()}});
    }
  }
  for (size_t i = 0; i < chain.spec.vnfs.size(); ++i) {
    const VnfSpec& v = chain.spec.vnfs[i];
    if (VnfModule* m = registry_.Find(v.type)) m->OnInstanceUp(InstanceInfo(name, v, i), v.config);
  }
  log::Info("chain.adopted", {{"chain", name}, {"generation", std::to_string(chain.generation)}});
  return Status::Ok();
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
          return FailedPrecondition(path + ": interface \"" + ifname + "\" is already used by chain \"" +
                                    other + "\"");
    }
  }
  if (spec.egress.action == EgressAction::kRedirect && !if_nametoindex(spec.egress.port.c_str()))
    return InvalidArgument("/egress/port: no interface \"" + spec.egress.port + "\" on this host");
  return Status::Ok();
}

Result<ChainInfo> ChainEngine::Apply(const ChainSpec& spec, bool dry_run, bool* changed) {
  std::lock_guard lock(mu_);
  return ApplyLocked(spec, dry_run, changed);
}

Result<ChainInfo> ChainEngine::ApplyLocked(const ChainSpec& spec, bool dry_run, bool* changed) {
  *changed = false;
  auto it = chains_.find(spec.name);
  const Chain* current = it == chains_.end() ? nullptr : &it->second;
  SFC_RETURN_IF_ERROR(CheckSystem(spec));

  if (current && current->spec == spec && !dry_run) {
    bool healthy = true;
    for (const auto& a : Describe(*current).attachments) healthy &= a.attached || !options_.attach;
    if (healthy) return Describe(*current);
  }

  const uint64_t number = current ? current->generation + 1 : 1;
  const bool fresh = current == nullptr;
  // A new chain that fails half-way leaves nothing behind.
  auto fail = [&](const Status& st) -> Status {
    if (fresh && !dry_run) (void)RemoveTree(pins_.ChainDir(spec.name));
    log::Warn("chain.apply_failed", {{"chain", spec.name}, {"error", st.message()}});
    return st;
  };

  // 1. Prepare: every program through the verifier, tables filled, pins staged.
  Generation gen(*this, spec, current, number);
  Status st = gen.Prepare(/*pin=*/!dry_run);
  if (st.ok() && (dry_run || (fresh && !options_.attach)))
    st = LoadDetachedEntry(spec, gen, /*pin=*/!dry_run, fresh);
  if (!st.ok()) return fail(st);
  if (dry_run) return Describe(Chain{spec, number, std::chrono::system_clock::now()});

  // 2. A new chain's own maps go in place (nothing can reach them yet).
  if (fresh) {
    st = gen.PinSharedMaps();
    if (st.ok() && options_.attach) st = CreateRoot(spec.name);
    if (!st.ok()) return fail(st);
  }

  // 3. The switch: one slot write moves every packet to the new generation.
  auto old_progs = OpenPinned(pins_.Progs(spec.name));  // keeps the old generation alive
  auto root = OpenPinned(pins_.Root(spec.name));
  if (!root.ok()) return fail(root.status());
  uint32_t zero = 0;
  int first = gen.first_prog_fd();
  if (bpf_map_update_elem(root->get(), &zero, &first, BPF_ANY))
    return fail(ErrnoStatus("switching chain root to generation " + std::to_string(number), errno));
  if (Status c = gen.Commit(); !c.ok())
    log::Error("chain.pin_move_failed", {{"chain", spec.name}, {"error", c.message()}});

  // 4. Interfaces: attach new ones (a new chain only now), detach dropped ones.
  if (options_.attach) {
    st = SyncAttachments(spec, current);
    if (!st.ok()) return fail(st);
  }

  std::this_thread::sleep_for(kGenerationGrace);
  old_progs = NotFound("released");

  // 5. Module hooks: instances that went away, then the ones now running.
  if (current)
    for (const auto& old : current->spec.vnfs) {
      bool stays = false;
      for (const auto& v : spec.vnfs) stays |= v.name == old.name && v.type == old.type;
      if (!stays)
        if (VnfModule* m = registry_.Find(old.type)) m->OnInstanceDown(InstanceInfo(spec.name, old, 0));
    }
  for (size_t i = 0; i < spec.vnfs.size(); ++i)
    if (VnfModule* m = registry_.Find(spec.vnfs[i].type))
      m->OnInstanceUp(InstanceInfo(spec.name, spec.vnfs[i], i), spec.vnfs[i].config);

  Chain& chain = chains_[spec.name];
  chain = Chain{spec, number, std::chrono::system_clock::now()};
  if (Status saved = SaveState(chain); !saved.ok())
    log::Error("state.save_failed", {{"chain", spec.name}, {"error", saved.message()}});
  *changed = true;
  log::Info("chain.applied", {{"chain", spec.name}, {"generation", std::to_string(number)},
                              {"vnfs", std::to_string(spec.vnfs.size())}});
  return Describe(chain);
}

Status ChainEngine::CreateRoot(const std::string& chain) {
  UniqueFd root(bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "sfc_root", sizeof(uint32_t), sizeof(uint32_t), 1,
                               nullptr));
  if (!root) return ErrnoStatus("creating root prog array", errno);
  return PinFd(root.get(), pins_.Root(chain));
}

// An entry program loaded but not attached: in a dry run it proves the entry
// passes the verifier; without attachments (tests, benchmarks) it is the
// chain's way in, pinned at <chain>/entry, and it creates the chain's root.
Status ChainEngine::LoadDetachedEntry(const ChainSpec& spec, const Generation& gen, bool pin, bool fresh) {
  SkelPtr<sfc_entry> entry(sfc_entry__open());
  if (!entry) return ErrnoStatus("opening entry object", errno);
  entry->rodata->sfc_fail_policy = FailPolicyValue(spec.fail_policy);
  entry->rodata->sfc_timing = spec.timing;
  SFC_RETURN_IF_ERROR(ReuseMap(entry->maps.sfc_pktctx, gen.pktctx_fd(), "chain pktctx"));
  SFC_RETURN_IF_ERROR(ReuseMap(entry->maps.sfc_chain_stats, gen.chain_stats_fd(), "chain stats"));
  if (!fresh) {
    SFC_ASSIGN_OR_RETURN(UniqueFd root, OpenPinned(pins_.Root(spec.name)));
    SFC_RETURN_IF_ERROR(ReuseMap(entry->maps.sfc_root, root.get(), "chain root"));
  }
  if (int err = sfc_entry__load(entry.get())) return ErrnoStatus("loading entry program", err);
  if (!pin) return Status::Ok();
  SFC_RETURN_IF_ERROR(PinFd(bpf_map__fd(entry->maps.sfc_root), pins_.Root(spec.name)));
  return PinFd(bpf_program__fd(entry->progs.sfc_entry), pins_.DetachedEntry(spec.name));
}

Status ChainEngine::SyncAttachments(const ChainSpec& spec, const Chain* current) {
  auto had = [&](const InterfaceSpec& iface) {
    if (current)
      for (const auto& c : current->spec.interfaces)
        if (c == iface) return true;
    return false;
  };
  std::vector<std::string> attached_now;
  for (const auto& iface : spec.interfaces) {
    if (had(iface)) continue;
    if (current)  // same interface, other mode: re-attach
      for (const auto& c : current->spec.interfaces)
        if (c.name == iface.name) (void)DetachEntry(spec.name, c.name);
    Status st = AttachEntry(spec, iface);
    if (!st.ok()) {
      for (const auto& name : attached_now) (void)DetachEntry(spec.name, name);
      return st;
    }
    attached_now.push_back(iface.name);
  }
  if (current)
    for (const auto& c : current->spec.interfaces) {
      bool keep = false;
      for (const auto& n : spec.interfaces) keep |= n.name == c.name;
      if (!keep) (void)DetachEntry(spec.name, c.name);
    }
  return Status::Ok();
}

Status ChainEngine::AttachEntry(const ChainSpec& spec, const InterfaceSpec& iface) {
  const std::string path = "/interfaces/" + iface.name;
  int ifindex = if_nametoindex(iface.name.c_str());
  if (!ifindex) return InvalidArgument("no interface \"" + iface.name + "\" on this host");

  SkelPtr<sfc_entry> entry(sfc_entry__open());
  if (!entry) return ErrnoStatus("opening entry object", errno);
  entry->rodata->sfc_fail_policy = FailPolicyValue(spec.fail_policy);
  entry->rodata->sfc_timing = spec.timing;
  SFC_ASSIGN_OR_RETURN(UniqueFd pktctx, OpenPinned(pins_.PktCtx(spec.name)));
  SFC_ASSIGN_OR_RETURN(UniqueFd stats, OpenPinned(pins_.ChainStats(spec.name)));
  SFC_ASSIGN_OR_RETURN(UniqueFd root, OpenPinned(pins_.Root(spec.name)));
  SFC_RETURN_IF_ERROR(ReuseMap(entry->maps.sfc_pktctx, pktctx.get(), "chain pktctx"));
  SFC_RETURN_IF_ERROR(ReuseMap(entry->maps.sfc_chain_stats, stats.get(), "chain stats"));
  SFC_RETURN_IF_ERROR(ReuseMap(entry->maps.sfc_root, root.get(), "chain root"));

  DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = entry->obj, .prog_name = "sfc_entry");
  XdpProgramPtr prog(xdp_program__create(&opts));
  if (long err = libxdp_get_error(prog.get())) {
    prog.release();
    return Internal("libxdp: creating program for " + iface.name + ": " + LibxdpError(err));
  }

  xdp_attach_mode mode = iface.mode == XdpMode::kGeneric ? XDP_MODE_SKB : XDP_MODE_NATIVE;
  int err = xdp_program__attach(prog.get(), ifindex, mode, 0);
  if (err && mode == XDP_MODE_NATIVE && (err == -EOPNOTSUPP || err == -EINVAL)) {
    log::Warn("xdp.native_unavailable", {{"chain", spec.name}, {"interface", iface.name},
                                         {"error", LibxdpError(err)}, {"fallback", "generic"}});
    err = xdp_program__attach(prog.get(), ifindex, XDP_MODE_SKB, 0);
  }
  if (err) {
    std::string hint = err == -EEXIST || err == -EBUSY
                           ? " (another XDP program is attached and libxdp cannot share the interface)"
                           : "";
    return FailedPrecondition("attaching to interface \"" + iface.name + "\": " + LibxdpError(err) + hint);
  }
  Status pinned = PinFd(xdp_program__fd(prog.get()), pins_.Entry(spec.name, iface.name));
  if (!pinned.ok()) {
    (void)xdp_program__detach(prog.get(), ifindex, mode, 0);
    return pinned;
  }
  AttachedState st = QueryAttachment(ifindex, xdp_program__id(prog.get()));
  log::Info("xdp.attached", {{"chain", spec.name}, {"interface", iface.name}, {"mode", st.mode},
                             {"libxdp_mode", st.libxdp_mode},
                             {"prog_id", std::to_string(xdp_program__id(prog.get()))}});
  return Status::Ok();
}

Status ChainEngine::DetachEntry(const std::string& chain, const std::string& ifname) {
  const std::string pin = pins_.Entry(chain, ifname);
  int ifindex = if_nametoindex(ifname.c_str());
  auto fd = OpenPinned(pin);
  Status result = Status::Ok();
  if (ifindex && fd.ok()) {
    uint32_t id = ProgId(fd->get());
    AttachedState st = QueryAttachment(ifindex, id);
    if (st.attached) {
      XdpProgramPtr prog(xdp_program__from_pin(pin.c_str()));
      if (long err = libxdp_get_error(prog.get())) {
        prog.release();
        result = Internal("libxdp: opening " + pin + ": " + LibxdpError(err));
      } else {
        xdp_attach_mode mode = st.mode == "generic" ? XDP_MODE_SKB : XDP_MODE_NATIVE;
        if (int err = xdp_program__detach(prog.get(), ifindex, mode, 0))
          result = Internal("detaching from " + ifname + ": " + LibxdpError(err));
      }
    }
  }
  ::unlink(pin.c_str());
  if (result.ok()) log::Info("xdp.detached", {{"chain", chain}, {"interface", ifname}});
  return result;
}

Status ChainEngine::Delete(std::string_view name) {
  std::lock_guard lock(mu_);
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
      Status st = DetachEntry(name, file.substr(6));
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
    for (const auto& iface : chain.spec.interfaces) (void)DetachEntry(name, iface.name);
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

Result<ChainCounters> ChainEngine::Counters(std::string_view chain_name, std::string_view vnf) {
  std::lock_guard lock(mu_);
  auto it = chains_.find(chain_name);
  if (it == chains_.end()) return NotFound("no chain \"" + std::string(chain_name) + "\"");
  const ChainSpec& spec = it->second.spec;
  ChainCounters out;
  SFC_ASSIGN_OR_RETURN(UniqueFd cs, OpenPinned(pins_.ChainStats(spec.name)));
  SFC_ASSIGN_OR_RETURN(out.chain, ReadPerCpuCounters(cs.get()));
  bool found = vnf.empty();
  for (const auto& v : spec.vnfs) {
    if (!vnf.empty() && v.name != vnf) continue;
    found = true;
    SFC_ASSIGN_OR_RETURN(UniqueFd fd, OpenPinned(pins_.VnfMap(spec.name, v.name, "stats")));
    SFC_ASSIGN_OR_RETURN(NamedCounters c, ReadPerCpuCounters(fd.get()));
    out.vnfs.push_back({v.name, v.type, std::move(c)});
  }
  if (!found) return NotFound("chain \"" + spec.name + "\" has no VNF \"" + std::string(vnf) + "\"");
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

Status ChainEngine::SaveState(const Chain& chain) const {
  json doc = {{"spec", chain.spec.ToJson()},
              {"generation", chain.generation},
              {"applied_at", std::chrono::duration_cast<std::chrono::seconds>(
                                 chain.applied_at.time_since_epoch()).count()}};
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
    ::fsync(fd);
    ::close(fd);
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
