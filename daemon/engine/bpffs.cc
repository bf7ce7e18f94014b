#include "engine/bpffs.h"

#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <filesystem>

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

bool SameMountNamespaceAsInit() {
  struct stat self, init;
  if (stat("/proc/self/ns/mnt", &self) != 0 || stat("/proc/1/ns/mnt", &init) != 0)
    return true;  // cannot tell (no /proc, or no permission): assume the usual case
  return self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

// Whether `path` (on a bpffs here) is the same filesystem PID 1 sees there.
bool HostSeesSameBpffs(const std::string& path) {
  const std::string host_path = "/proc/1/root" + path;
  struct stat here, host;
  if (stat(path.c_str(), &here) != 0) return false;
  if (!IsBpffs(host_path) || stat(host_path.c_str(), &host) != 0) return false;
  return here.st_dev == host.st_dev;
}

Status PrivateBpffs(const std::string& root, const std::string& why) {
  return FailedPrecondition(
      "bpffs for " + root + " would be private to this process: " + why +
      ". Pins there are invisible to the host's bpftool and vanish when sfcd exits, so a restarted "
      "sfcd could not adopt its chains. `ip netns exec` gives a process its own mount namespace and "
      "/sys; to run sfcd in a network namespace use `nsenter --net=/run/netns/NS sfcd ...` (network "
      "namespace only), or mount the host's bpffs into the namespace, or pass --allow-private-bpffs "
      "if a private bpffs is really what you want");
}

}  // namespace

Status PrepareBpffs(const std::string& root, bool allow_private) {
  const bool host_ns = SameMountNamespaceAsInit();
  const bool below_default = root == kDefaultMount || root.starts_with(std::string(kDefaultMount) + "/");

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
    return FailedPrecondition("--bpffs-root " + root + ": " + existing + " is not on a bpffs mount");
  if (!host_ns && !allow_private && !HostSeesSameBpffs(existing))
    return PrivateBpffs(root, "the bpffs mounted at " + existing +
                                  " in this mount namespace is not the one the host has there");
  return Status::Ok();
}

}  // namespace sfc
