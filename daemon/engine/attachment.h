// Attaching a chain's entry program to interfaces, through libxdp so that the
// chain can share an interface with other XDP programs where the kernel
// allows libxdp's dispatcher, and falls back to a single program where not.
//
// Every change here can be undone: Detach() hands back the program it took
// off, and Reattach() puts it back, so an Apply that fails after touching an
// interface leaves it exactly as it found it.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>

#include "common/fd.h"
#include "common/status.h"
#include "engine/chain_spec.h"
#include "engine/pin_layout.h"

struct sfc_entry;

namespace sfc {

// What libxdp reports for our program on one interface.
struct AttachedState {
  bool attached = false;    // our program (by id) is what runs there
  std::string mode;         // "native" | "generic" | "hw" | "none"
  std::string libxdp_mode;  // "dispatcher" | "single-program"
};
AttachedState QueryAttachment(int ifindex, uint32_t prog_id);

// The kernel id of a program fd (0 when it cannot be read).
uint32_t ProgId(int prog_fd);

// An entry program taken off an interface, kept so it can go back.
struct DetachedEntry {
  std::string ifname;
  XdpMode mode = XdpMode::kNative;
  UniqueFd prog;  // invalid: nothing of ours was attached
};

// The maps an entry program shares with its chain, as fds; -1 lets libbpf
// create a private one (a dry run of a chain that does not exist yet).
struct EntryMaps {
  int pktctx = -1, chain_stats = -1, root = -1, config = -1;
  int events = -1, monitor = -1, monitor_stats = -1;
};

// A loaded (not attached) entry program.
class EntryProgram {
 public:
  static Result<EntryProgram> Load(const EntryMaps& maps);
  EntryProgram(EntryProgram&&) noexcept;
  EntryProgram& operator=(EntryProgram&&) noexcept;
  ~EntryProgram();

  bpf_object* object() const;
  int fd() const;
  // The maps libbpf created where EntryMaps said -1 (a new chain's root and config).
  int root_fd() const;
  int config_fd() const;
  int events_fd() const;
  int monitor_fd() const;
  int monitor_stats_fd() const;

 private:
  explicit EntryProgram(::sfc_entry* skel) : skel_(skel) {}
  ::sfc_entry* skel_ = nullptr;
};

class Attacher {
 public:
  explicit Attacher(const PinLayout& pins) : pins_(pins) {}

  // Loads a fresh entry program for `chain` (its shared maps must be pinned),
  // attaches it to `iface` and pins it at <chain>/entry-<ifname>.
  Status Attach(const std::string& chain, const InterfaceSpec& iface) const;
  // Takes the chain's entry program off `ifname` and removes its pin.
  Result<DetachedEntry> Detach(const std::string& chain, const std::string& ifname) const;
  // Undoes a Detach(): attaches the same program again, in the same mode.
  Status Reattach(const std::string& chain, const DetachedEntry& entry) const;

 private:
  const PinLayout& pins_;
};

}  // namespace sfc
