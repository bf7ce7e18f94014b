#include "common/version.h"

#include <bpf/libbpf.h>
#include <sys/utsname.h>

#include "sfc_version.h"

namespace sfc {

VersionInfo BuildVersion() {
  VersionInfo v{SFC_VERSION, SFC_GIT_COMMIT, libbpf_version_string(), SFC_LIBXDP_BUILD_VERSION, ""};
  struct utsname u;
  if (uname(&u) == 0) v.kernel = u.release;
  return v;
}

std::string VersionLine(const std::string& program, const VersionInfo& v) {
  return program + " " + v.version + " (commit " + v.commit + "; libbpf " + v.libbpf + ", libxdp " +
         v.libxdp + ", kernel " + v.kernel + ")";
}

}  // namespace sfc
