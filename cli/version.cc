#include "version.h"

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "common/version.h"
#include "sfc/v1/chain.grpc.pb.h"

namespace sfc::cli {
namespace {

constexpr const char* kVersionUsage = R"(usage: sfcctl version [--client]

Prints this sfcctl's version and, unless --client, the server's: version,
the commit each was built from, the API, libbpf, libxdp and the kernel.
Exit code 3 (after printing the client's) when the server cannot be reached.
)";

nlohmann::json ToJson(const VersionInfo& v) {
  return {{"version", v.version},
          {"commit", v.commit},
          {"libbpf", v.libbpf},
          {"libxdp", v.libxdp},
          {"kernel", v.kernel}};
}

}  // namespace

int RunVersion(Context& ctx, const std::vector<std::string>& args) {
  Args a;
  std::string error;
  if (!Args::Parse(args, {}, {"--client", "--help", "-h"}, &a, &error))
    return UsageError(kVersionUsage, error);
  if (a.Has("--help") || a.Has("-h")) return std::fputs(kVersionUsage, stdout), kExitOk;
  if (!a.positional().empty()) return UsageError(kVersionUsage, "version: takes no arguments");

  const VersionInfo client = BuildVersion();
  nlohmann::json out = {{"client", ToJson(client)}};
  if (ctx.output == Output::kTable)
    std::cout << "client: " << VersionLine("sfcctl", client) << "\n";
  if (a.Has("--client")) {
    if (ctx.output == Output::kJson) std::cout << out.dump(2) << "\n";
    return kExitOk;
  }

  v1::GetVersionResponse resp;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st =
      v1::ChainService::NewStub(ctx.Channel())->GetVersion(&call, v1::GetVersionRequest(), &resp);
  if (!st.ok()) {
    if (ctx.output == Output::kJson) std::cout << out.dump(2) << "\n";
    return ReportError("version of " + ctx.server, st);
  }
  if (ctx.output == Output::kJson) {
    out["server"] = {{"version", resp.version()}, {"commit", resp.commit()},
                     {"api", resp.api()},         {"libbpf", resp.libbpf()},
                     {"libxdp", resp.libxdp()},   {"kernel", resp.kernel()}};
    std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "server: sfcd " << resp.version() << " (commit " << resp.commit() << "; api "
            << resp.api() << "; libbpf " << resp.libbpf() << ", libxdp " << resp.libxdp()
            << ", kernel " << resp.kernel() << ")\n";
  return kExitOk;
}

}  // namespace sfc::cli
