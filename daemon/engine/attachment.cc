#include "engine/attachment.h"

#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <xdp/libxdp.h>

#include <cstring>
#include <memory>
#include <utility>

#include "common/failpoint.h"
#include "common/log.h"
#include "engine/bpf_util.h"
#include "entry.skel.h"

namespace sfc {
namespace {

struct XdpProgramCloser {
  void operator()(xdp_program* p) const { xdp_program__close(p); }
};
using XdpProgramPtr = std::unique_ptr<xdp_program, XdpProgramCloser>;
struct XdpMultiprogCloser {
  void operator()(xdp_multiprog* p) const { xdp_multiprog__close(p); }
};
using XdpMultiprogPtr = std::unique_ptr<xdp_multiprog, XdpMultiprogCloser>;

std::string LibxdpError(long err) {
  char buf[256];
  libxdp_strerror(static_cast<int>(err), buf, sizeof(buf));
  return buf;
}

xdp_attach_mode LibxdpMode(XdpMode mode) {
  return mode == XdpMode::kGeneric ? XDP_MODE_SKB : XDP_MODE_NATIVE;
}

Status ReuseMap(bpf_map* map, int fd, const char* what) {
  if (fd < 0) return Status::Ok();
  if (int err = bpf_map__reuse_fd(map, fd))
    return ErrnoStatus(std::string("reusing the chain's ") + what + " for the entry program", err);
  return Status::Ok();
}

// Attaches a loaded program; native mode falls back to generic where the
// driver has no native XDP. Returns the mode it got.
Result<XdpMode> AttachProgram(xdp_program* prog, int ifindex, const std::string& chain,
                              const std::string& ifname, XdpMode want) {
  int err = xdp_program__attach(prog, ifindex, LibxdpMode(want), 0);
  XdpMode got = want;
  if (err && want == XdpMode::kNative && (err == -EOPNOTSUPP || err == -EINVAL)) {
    log::Warn("xdp.native_unavailable", {{"chain", chain},
                                         {"interface", ifname},
                                         {"error", LibxdpError(err)},
                                         {"fallback", "generic"}});
    got = XdpMode::kGeneric;
    err = xdp_program__attach(prog, ifindex, XDP_MODE_SKB, 0);
  }
  if (err) {
    std::string hint =
        err == -EEXIST || err == -EBUSY
            ? " (another XDP program is attached and libxdp cannot share the interface)"
            : "";
    return FailedPrecondition("attaching to interface \"" + ifname + "\": " + LibxdpError(err) +
                              hint);
  }
  return got;
}

}  // namespace

uint32_t ProgId(int prog_fd) {
  auto info = ProgInfo(prog_fd);
  return info.ok() ? info->id : 0;
}

AttachedState QueryAttachment(int ifindex, uint32_t prog_id) {
  AttachedState st;
  // Our program attached by itself answers from the kernel alone: libxdp
  // 1.3.1's xdp_multiprog__get_from_ifindex() leaks a program fd per call,
  // which every `get chains` and `describe` paid (found by the 50-client e2e
  // test). Dispatchers still need libxdp to list their programs.
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (bpf_xdp_query(ifindex, 0, &q) == 0 && prog_id != 0) {
    if (q.attach_mode == XDP_ATTACHED_DRV && q.drv_prog_id == prog_id) st.mode = "native";
    if (q.attach_mode == XDP_ATTACHED_SKB && q.skb_prog_id == prog_id) st.mode = "generic";
    if (!st.mode.empty()) {
      st.libxdp_mode = "single-program";
      st.attached = true;
      return st;
    }
  }
  XdpMultiprogPtr mp(xdp_multiprog__get_from_ifindex(ifindex));
  if (!mp || libxdp_get_error(mp.get())) {
    (void)mp.release();
    return st;
  }
  switch (xdp_multiprog__attach_mode(mp.get())) {
    case XDP_MODE_NATIVE:
      st.mode = "native";
      break;
    case XDP_MODE_SKB:
      st.mode = "generic";
      break;
    case XDP_MODE_HW:
      st.mode = "hw";
      break;
    default:
      st.mode = "none";
      break;
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

// --- EntryProgram ---

Result<EntryProgram> EntryProgram::Load(const EntryMaps& maps) {
  EntryProgram entry(sfc_entry__open());
  if (!entry.skel_) return ErrnoStatus("opening the entry object", errno);
  SFC_RETURN_IF_ERROR(ReuseMap(entry.skel_->maps.sfc_pktctx, maps.pktctx, "packet context"));
  SFC_RETURN_IF_ERROR(ReuseMap(entry.skel_->maps.sfc_chain_stats, maps.chain_stats, "counters"));
  SFC_RETURN_IF_ERROR(ReuseMap(entry.skel_->maps.sfc_root, maps.root, "root slot"));
  SFC_RETURN_IF_ERROR(ReuseMap(entry.skel_->maps.sfc_config, maps.config, "config"));
  SFC_RETURN_IF_ERROR(ReuseMap(entry.skel_->maps.sfc_events, maps.events, "monitor events"));
  SFC_RETURN_IF_ERROR(ReuseMap(entry.skel_->maps.sfc_monitor, maps.monitor, "monitor settings"));
  SFC_RETURN_IF_ERROR(
      ReuseMap(entry.skel_->maps.sfc_mon_stats, maps.monitor_stats, "monitor counters"));
  if (int err = sfc_entry__load(entry.skel_)) return ErrnoStatus("loading the entry program", err);
  return entry;
}

EntryProgram::EntryProgram(EntryProgram&& o) noexcept : skel_(std::exchange(o.skel_, nullptr)) {}
EntryProgram& EntryProgram::operator=(EntryProgram&& o) noexcept {
  if (this != &o) {
    if (skel_) sfc_entry__destroy(skel_);
    skel_ = std::exchange(o.skel_, nullptr);
  }
  return *this;
}
EntryProgram::~EntryProgram() {
  if (skel_) sfc_entry__destroy(skel_);
}
bpf_object* EntryProgram::object() const { return skel_->obj; }
int EntryProgram::fd() const { return bpf_program__fd(skel_->progs.sfc_entry); }
int EntryProgram::root_fd() const { return bpf_map__fd(skel_->maps.sfc_root); }
int EntryProgram::config_fd() const { return bpf_map__fd(skel_->maps.sfc_config); }
int EntryProgram::events_fd() const { return bpf_map__fd(skel_->maps.sfc_events); }
int EntryProgram::monitor_fd() const { return bpf_map__fd(skel_->maps.sfc_monitor); }
int EntryProgram::monitor_stats_fd() const { return bpf_map__fd(skel_->maps.sfc_mon_stats); }

// --- Attacher ---

Status Attacher::Attach(const std::string& chain, const InterfaceSpec& iface) const {
  int ifindex = static_cast<int>(if_nametoindex(iface.name.c_str()));
  if (!ifindex) return InvalidArgument("no interface \"" + iface.name + "\" on this host");
  SFC_RETURN_IF_ERROR(Failpoint("apply.attach"));

  SFC_ASSIGN_OR_RETURN(UniqueFd pktctx, OpenPinned(pins_.PktCtx(chain)));
  SFC_ASSIGN_OR_RETURN(UniqueFd stats, OpenPinned(pins_.ChainStats(chain)));
  SFC_ASSIGN_OR_RETURN(UniqueFd root, OpenPinned(pins_.Root(chain)));
  SFC_ASSIGN_OR_RETURN(UniqueFd config, OpenPinned(pins_.Config(chain)));
  // A chain pinned by an sfcd without the monitor has no monitor maps: the
  // entry creates them and they are pinned below, for the next Apply's VNFs.
  auto events = OpenPinned(pins_.Events(chain));
  auto monitor = OpenPinned(pins_.Monitor(chain));
  auto monitor_stats = OpenPinned(pins_.MonitorStats(chain));
  const bool have_monitor = events.ok() && monitor.ok() && monitor_stats.ok();
  SFC_ASSIGN_OR_RETURN(
      EntryProgram entry,
      EntryProgram::Load({pktctx.get(), stats.get(), root.get(), config.get(),
                          have_monitor ? events->get() : -1, have_monitor ? monitor->get() : -1,
                          have_monitor ? monitor_stats->get() : -1}));
  if (!have_monitor) {
    for (const auto& path : {pins_.Events(chain), pins_.Monitor(chain), pins_.MonitorStats(chain)})
      (void)::unlink(path.c_str());
    SFC_RETURN_IF_ERROR(PinFd(entry.events_fd(), pins_.Events(chain)));
    SFC_RETURN_IF_ERROR(PinFd(entry.monitor_fd(), pins_.Monitor(chain)));
    SFC_RETURN_IF_ERROR(PinFd(entry.monitor_stats_fd(), pins_.MonitorStats(chain)));
  }

  DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = entry.object(), .prog_name = "sfc_entry");
  XdpProgramPtr prog(xdp_program__create(&opts));
  if (long err = libxdp_get_error(prog.get())) {
    (void)prog.release();
    return Internal("libxdp: creating program for " + iface.name + ": " + LibxdpError(err));
  }
  SFC_ASSIGN_OR_RETURN(XdpMode mode,
                       AttachProgram(prog.get(), ifindex, chain, iface.name, iface.mode));
  Status pinned = PinFd(xdp_program__fd(prog.get()), pins_.Entry(chain, iface.name));
  if (!pinned.ok()) {
    (void)xdp_program__detach(prog.get(), ifindex, LibxdpMode(mode), 0);
    return pinned;
  }
  AttachedState st = QueryAttachment(ifindex, xdp_program__id(prog.get()));
  log::Info("xdp.attached", {{"chain", chain},
                             {"interface", iface.name},
                             {"mode", st.mode},
                             {"libxdp_mode", st.libxdp_mode},
                             {"prog_id", std::to_string(xdp_program__id(prog.get()))}});
  return Status::Ok();
}

Result<DetachedEntry> Attacher::Detach(const std::string& chain, const std::string& ifname) const {
  const std::string pin = pins_.Entry(chain, ifname);
  DetachedEntry out{ifname, XdpMode::kNative, UniqueFd()};
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  auto fd = OpenPinned(pin);
  if (ifindex && fd.ok()) {
    AttachedState st = QueryAttachment(ifindex, ProgId(fd->get()));
    if (st.attached && st.libxdp_mode == "single-program") {
      // Straight through libbpf: libxdp 1.3.1 leaks a program fd in
      // xdp_program__detach() (see QueryAttachment). REPLACE: only if it is
      // still ours.
      out.mode = st.mode == "generic" ? XdpMode::kGeneric : XdpMode::kNative;
      LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = fd->get());
      const uint32_t flags =
          XDP_FLAGS_REPLACE |
          (out.mode == XdpMode::kGeneric ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE);
      if (bpf_xdp_detach(ifindex, flags, &opts) != 0)
        return Internal("detaching from " + ifname + ": " + std::strerror(errno));
      out.prog = std::move(fd).value();
    } else if (st.attached) {
      XdpProgramPtr prog(xdp_program__from_pin(pin.c_str()));
      if (long err = libxdp_get_error(prog.get())) {
        (void)prog.release();
        return Internal("libxdp: opening " + pin + ": " + LibxdpError(err));
      }
      out.mode = st.mode == "generic" ? XdpMode::kGeneric : XdpMode::kNative;
      if (int err = xdp_program__detach(prog.get(), ifindex, LibxdpMode(out.mode), 0))
        return Internal("detaching from " + ifname + ": " + LibxdpError(err));
      out.prog = std::move(fd).value();
    }
  }
  ::unlink(pin.c_str());
  log::Info("xdp.detached", {{"chain", chain}, {"interface", ifname}});
  return out;
}

Status Attacher::Reattach(const std::string& chain, const DetachedEntry& entry) const {
  if (!entry.prog) return Status::Ok();  // nothing of ours was there
  int ifindex = static_cast<int>(if_nametoindex(entry.ifname.c_str()));
  if (!ifindex) return InvalidArgument("no interface \"" + entry.ifname + "\" on this host");
  XdpProgramPtr prog(xdp_program__from_fd(entry.prog.get()));
  if (long err = libxdp_get_error(prog.get())) {
    (void)prog.release();
    return Internal("libxdp: reopening the entry program of " + entry.ifname + ": " +
                    LibxdpError(err));
  }
  int err = xdp_program__attach(prog.get(), ifindex, LibxdpMode(entry.mode), 0);
  if (err) return Internal("re-attaching to " + entry.ifname + ": " + LibxdpError(err));
  SFC_RETURN_IF_ERROR(PinFd(entry.prog.get(), pins_.Entry(chain, entry.ifname)));
  log::Info(
      "xdp.reattached",
      {{"chain", chain}, {"interface", entry.ifname}, {"mode", std::string(ToString(entry.mode))}});
  return Status::Ok();
}

}  // namespace sfc
