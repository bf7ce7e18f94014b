// Start-up: adopting what a previous sfcd left running. The pins are the
// truth about the data plane, the saved specs the truth about what was asked
// for; this file makes the two agree without stopping traffic that already
// flows as asked.
//
// A crash can interrupt an Apply anywhere. The spec is saved before the
// switch, and the switch is one root-slot write, so a restarted sfcd finds
// one of:
//   - root -> committed prog array, config.generation == saved: adopt;
//   - root -> committed prog array, older generation (crash before the
//     switch): apply the saved spec again;
//   - root -> a staged prog array (crash between the switch and the end of
//     the pin moves): finish the moves, then as above.
// Staging directories left behind are removed in every case.
#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <sfc/abi.h>
#include "common/log.h"
#include "engine/bpffs.h"
#include "engine/chain_engine.h"

namespace sfc {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The id of the program in slot 0 of a pinned prog array; 0 if none.
uint32_t SlotZeroId(const std::string& pin) {
  auto fd = OpenPinned(pin);
  uint32_t key = 0, id = 0;
  if (!fd.ok() || bpf_map_lookup_elem(fd->get(), &key, &id) != 0) return 0;
  return id;
}

// Moves every pin below `staging` (but its replaced-pins area) to the same
// relative path below `chain_dir`.
Status FinishMoves(const std::string& staging, const std::string& chain_dir) {
  std::error_code ec;
  std::vector<fs::path> pins;
  for (auto it = fs::recursive_directory_iterator(staging, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().starts_with("_")) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_directory()) pins.push_back(it->path());
  }
  // The prog array last, as Commit() moves it.
  std::stable_partition(pins.begin(), pins.end(),
                        [](const fs::path& p) { return p.filename() != "progs"; });
  for (const auto& p : pins) {
    fs::path to = fs::path(chain_dir) / fs::relative(p, staging);
    SFC_RETURN_IF_ERROR(MakeDirs(to.parent_path()));
    if (::rename(p.c_str(), to.c_str()) != 0) return ErrnoStatus("moving " + p.string(), errno);
  }
  return Status::Ok();
}

}  // namespace

Status ChainEngine::Start() {
  SFC_RETURN_IF_ERROR(PrepareBpffs(options_.bpffs_root, options_.allow_private_bpffs));
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
      log::Error(
          "chain.adopt_failed",
          {{"chain", name}, {"file", entry.path().string()}, {"error", spec.status().message()}});
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
      log::Warn("chain.orphan",
                {{"chain", name},
                 {"pin_dir", entry.path().string()},
                 {"hint", "pinned but no saved spec; apply it again or delete it"}});
  }
  return Status::Ok();
}

// Which generation the data plane runs, after finishing a commit a crash cut
// short; NOT_FOUND when the pins do not say (lost, or from an incompatible
// sfcd).
Result<uint64_t> ChainEngine::LiveGeneration(const std::string& name) {
  const std::string dir = pins_.ChainDir(name);
  const uint32_t live = SlotZeroId(pins_.Root(name));
  std::optional<uint64_t> staged_live;
  std::error_code ec;
  std::vector<fs::path> stagings;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename().string().starts_with(PinLayout::kStagingPrefix))
      stagings.push_back(entry.path());
  for (const auto& staging : stagings) {
    const std::string gen =
        staging.filename().string().substr(std::strlen(PinLayout::kStagingPrefix));
    if (live && SlotZeroId(staging / "progs") == live) {
      log::Warn("chain.commit_resumed", {{"chain", name}, {"generation", gen}});
      SFC_RETURN_IF_ERROR(FinishMoves(staging, dir));
      staged_live = std::stoull(gen);
    }
    (void)RemoveTree(staging);
  }
  if (!live || SlotZeroId(pins_.Progs(name)) != live)
    return NotFound("the root slot runs no committed generation");
  if (staged_live) return *staged_live;
  auto config = OpenPinned(pins_.Config(name));
  if (!config.ok()) return NotFound("no chain config pinned");
  sfc_chain_config c{};
  uint32_t key = 0;
  if (bpf_map_lookup_elem(config->get(), &key, &c) != 0)
    return ErrnoStatus("reading chain config", errno);
  return c.generation;
}

// What an Apply cut short after its switch may have left: VNF directories of
// instances the spec no longer has, interfaces it no longer uses.
void ChainEngine::RemoveLeftovers(const ChainSpec& spec) {
  std::set<std::string> vnfs, ifaces;
  for (const auto& v : spec.vnfs) vnfs.insert(v.name);
  for (const auto& i : spec.interfaces) ifaces.insert(i.name);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(pins_.ChainDir(spec.name), ec)) {
    std::string f = entry.path().filename();
    if (entry.is_directory() && !vnfs.count(f)) {
      log::Warn("chain.leftover_removed",
                {{"chain", spec.name}, {"pin_dir", entry.path().string()}});
      (void)RemoveTree(entry.path());
    } else if (f.starts_with("entry-") && !ifaces.count(f.substr(6))) {
      log::Warn("chain.leftover_detached", {{"chain", spec.name}, {"interface", f.substr(6)}});
      (void)attacher_.Detach(spec.name, f.substr(6));
    }
  }
}

// A chain that survived a restart keeps running untouched; only what differs
// from the saved spec (a lost attachment, lost pins, an Apply cut short) is
// rebuilt.
Status ChainEngine::Adopt(const std::string& name, Chain saved) {
  auto live = LiveGeneration(name);
  bool complete = live.ok() && PathExists(pins_.ChainStats(name)) && PathExists(pins_.PktCtx(name));
  for (const auto& v : saved.spec.vnfs) complete &= PathExists(pins_.VnfDir(name, v.name));
  bool changed = false;
  if (!complete) {
    log::Warn(
        "chain.rebuild",
        {{"chain", name}, {"reason", live.ok() ? "pins incomplete" : live.status().message()}});
    // Start over: whatever is left attached or pinned belongs to nothing we
    // can run. The saved spec is applied as a new chain.
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(pins_.ChainDir(name), ec))
      if (std::string f = entry.path().filename(); f.starts_with("entry-"))
        (void)attacher_.Detach(name, f.substr(6));
    SFC_RETURN_IF_ERROR(RemoveTree(pins_.ChainDir(name)));
    return ApplyLocked(saved.spec, false, false, &changed).status();
  }

  if (*live != saved.generation) {
    // The spec was saved, the switch did not happen: finish what was asked.
    log::Warn("chain.apply_resumed", {{"chain", name},
                                      {"live_generation", std::to_string(*live)},
                                      {"saved_generation", std::to_string(saved.generation)}});
    chains_[name] = Chain{saved.spec, *live, saved.applied_at};
    return ApplyLocked(saved.spec, false, /*rebuild=*/true, &changed).status();
  }

  chains_[name] = saved;
  RemoveLeftovers(saved.spec);
  if (options_.attach) {
    for (const auto& iface : saved.spec.interfaces) {
      int ifindex = static_cast<int>(if_nametoindex(iface.name.c_str()));
      auto fd = OpenPinned(pins_.Entry(name, iface.name));
      if (ifindex && fd.ok() && QueryAttachment(ifindex, ProgId(fd->get())).attached) continue;
      log::Warn("chain.reattach", {{"chain", name}, {"interface", iface.name}});
      (void)::unlink(pins_.Entry(name, iface.name).c_str());
      Status st = attacher_.Attach(name, iface);
      if (!st.ok())
        log::Error("chain.reattach_failed",
                   {{"chain", name}, {"interface", iface.name}, {"error", st.message()}});
    }
  }
  RunUpHooks(saved.spec, nullptr);
  log::Info("chain.adopted", {{"chain", name}, {"generation", std::to_string(saved.generation)}});
  return Status::Ok();
}

}  // namespace sfc
