// What this build is: the project version, the commit it was built from, and
// the libraries and kernel it runs on. Reported by `sfcd --version`,
// `sfcctl version` and the API's ChainService.GetVersion.
#pragma once

#include <string>

namespace sfc {

struct VersionInfo {
  std::string version;  // "0.5.0"
  std::string commit;   // git describe: "1a2b3c4d5e6f", "...-dirty", or "unknown"
  std::string libbpf;   // the libbpf sfcd runs with
  std::string libxdp;   // the libxdp it was built against
  std::string kernel;   // uname -r of the running kernel
};

VersionInfo BuildVersion();

// "sfcd 0.5.0 (commit 1a2b3c4d5e6f; libbpf v1.1, libxdp 1.3.1, kernel 6.1.0)"
std::string VersionLine(const std::string& program, const VersionInfo& v);

}  // namespace sfc
