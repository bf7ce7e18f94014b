#include "engine/bpffs.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/log.h"

namespace sfc {
namespace {

constexpr const char* kDefaultMount = "/sys/fs/bpf";

bool IsBpffs(const std::string& path) {
  struct statfs st;
  return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// The deepest existing directory at or above `path`.
std::string ExistingAncestor(std::string path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  while (!path.empty() && path != "/" && !fs::exists(path, ec)) path = fs::path(path).parent_path();
  return path.empty() ? "/" : path;
}

// The network namespace `ip netns exec NAME` entered us into, read from the
// sysfs it mounts on /sys for that namespace: iproute2 names the mount
// after the namespace. Empty when /sys is an ordinary sysfs.
std::string IpNetnsExecName() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "... <mount point> <options> [optional fields] - <fstype> <source> <super options>"
    std::istringstream f(line);
    std::string id, parent, devno, root, point;
    if (!(f >> id >> parent >> devno >> root >> point) || point != "/sys") continue;
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source;
    tail >> fstype >> source;
    if (fstype == "sysfs" && source != "sysfs" && std::filesystem::exists("/run/netns/" + source))
      return source;
  }
  return "";
}

// Whether this process shares the host's mount namespace (PID 1's). Where
// PID 1's namespace cannot be read (no CAP_SYS_PTRACE, a sandbox), the one
// common way out of it that is known for sure is `ip netns exec`.
bool SameMountNamespaceAsInit() {
  struct stat self, init;
  if (stat("/proc/self/ns/mnt", &self) == 0 && stat("/proc/1/ns/mnt", &init) == 0)
    return self.st_ino == init.st_ino && self.st_dev == init.st_dev;
  return IpNetnsExecName().empty();
}

// Whether `path` (on a bpffs here) is the same filesystem PID 1 sees there.
bool HostSeesSameBpffs(const std::string& path) {
  const std::string host_path = "/proc/1/root" + path;
  struct stat here, host;
  if (access("/proc/1/root", X_OK) != 0)
    return IpNetnsExecName().empty();  // cannot look: see above
  if (stat(path.c_str(), &here) != 0) return false;
  if (!IsBpffs(host_path) || stat(host_path.c_str(), &host) != 0) return false;
  return here.st_dev == host.st_dev;
}

Status PrivateBpffs(const std::string& root, const std::string& why) {
  std::string ns = IpNetnsExecName();
  if (ns.empty()) ns = "NS";
  return FailedPrecondition(
      "bpffs for " + root + " would be private to this process: " + why +
      ". Pins there are invisible to the host's bpftool and vanish when sfcd exits, so a restarted "
      "sfcd could not adopt its chains. `ip netns exec` gives a process its own mount namespace "
      "and "
      "/sys; to run sfcd in a network namespace use `nsenter --net=/run/netns/" +
      ns +
      " sfcd ...` (network "
      "namespace only), or mount the host's bpffs into the namespace, or pass "
      "--allow-private-bpffs "
      "if a private bpffs is really what you want");
}

}  // namespace

Status PrepareBpffs(const std::string& root, bool allow_private) {
  const bool host_ns = SameMountNamespaceAsInit();
  const bool below_default =
      root == kDefaultMount || root.starts_with(std::string(kDefaultMount) + "/");

  if (below_default && !IsBpffs(kDefaultMount)) {
    if (!host_ns && !allow_private)
      return PrivateBpffs(root, std::string("nothing is mounted on ") + kDefaultMount +
                                    " in this mount namespace, which is not the host's");
    if (::mount("bpf", kDefaultMount, "bpf", 0, "mode=0700") != 0)
      return ErrnoStatus(std::string("mounting bpffs on ") + kDefaultMount, errno);
    log::Info("bpffs.mounted", {{"path", kDefaultMount}, {"private", host_ns ? "no" : "yes"}});
    return Status::Ok();
  }

  const std::string existing = ExistingAncestor(root);
  if (!IsBpffs(existing))
    return FailedPrecondition("--bpffs-root " + root + ": " + existing +
                              " is not on a bpffs mount");
  if (!host_ns && !allow_private && !HostSeesSameBpffs(existing))
    return PrivateBpffs(root, "the bpffs mounted at " + existing +
                                  " in this mount namespace is not the one the host has there");
  return Status::Ok();
}

}  // namespace sfc
