// Where chains are pinned must be a bpffs that the host sees. A daemon
// started with `ip netns exec NS sfcd` runs in a mount namespace of its own
// with a fresh /sys, where a bpffs mounted by sfcd is private: the host's
// bpftool finds nothing, and the pins vanish with the process, so a
// restarted sfcd cannot adopt chains that are still attached.
#pragma once

#include <string>

#include "common/status.h"

namespace sfc {

// Makes sure `root` can hold pins: mounts bpffs on /sys/fs/bpf when nothing is
// mounted there (and `root` is below it), and refuses, with a message that
// says how to run sfcd instead, when the bpffs would be one the host (PID 1's
// mount namespace) does not see — unless `allow_private` says that is wanted.
Status PrepareBpffs(const std::string& root, bool allow_private);

}  // namespace sfc
