#include "dpi.h"

#include <charconv>
#include <cstdio>
#include <iostream>

#include "sfc/v1/dpi.grpc.pb.h"

namespace sfc::cli {
namespace {

constexpr const char* kDpiUsage =
    R"(usage: sfcctl dpi COMMAND [ARGS...] [-o table|json]

Shows what the dpi VNF (nDPI application classification) of a chain found.
VNF names the dpi instance when the chain has several.

commands:
  apps CHAIN [VNF]        per application: flows in the flow table, their
                          packets and bytes (both directions, frames), flows
                          classified since the classifier started; then the
                          classifier's counters (given up, evicted, ring full)
  flows CHAIN [VNF] [--app NAME] [--all] [--top N]
                          classified flows, most packets first (--top, default
                          50); --app keeps one application (nDPI's name, any
                          case; also matches the master: --app TLS); --all
                          adds pending and given-up flows
  protocols               the protocols this nDPI knows, with their category
)";

bool ParseUint(const std::string& s, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > max) return false;
  *out = v;
  return true;
}

std::string Endpoint(const std::string& addr, uint32_t ip_version, uint32_t port) {
  return (ip_version == 6 ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

// CHAIN [VNF] from the positionals after the command.
bool Target(const Args& a, std::string* chain, std::string* vnf, std::string* err) {
  const auto& p = a.positional();
  if (p.size() < 2 || p.size() > 3) {
    *err = p[0] + ": expected CHAIN [VNF]";
    return false;
  }
  *chain = p[1];
  *vnf = p.size() == 3 ? p[2] : "";
  return true;
}

int Apps(Context& ctx, const Args& a) {
  v1::ListDpiAppsRequest req;
  std::string chain, vnf, err;
  if (!Target(a, &chain, &vnf, &err)) return UsageError(kDpiUsage, err);
  req.set_chain(chain);
  req.set_vnf(vnf);
  auto stub = v1::DpiService::NewStub(ctx.Channel());
  v1::ListDpiAppsResponse resp;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st = stub->ListApps(&call, req, &resp);
  if (!st.ok()) return ReportError("dpi apps " + chain, st);
  if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
  std::vector<std::vector<std::string>> rows;
  for (const auto& app : resp.apps())
    rows.push_back({app.app(), app.category(), std::to_string(app.flows()),
                    std::to_string(app.packets()), Human(static_cast<double>(app.bytes()), "B"),
                    std::to_string(app.classified_total())});
  PrintTable({"APP", "CATEGORY", "FLOWS", "PACKETS", "BYTES", "CLASSIFIED"}, rows);
  std::cout << resp.table_flows() << " of " << resp.max_flows() << " flows in " << chain << "/"
            << resp.vnf() << "; classifier (nDPI " << resp.ndpi_version()
            << "): " << resp.classified() << " classified, " << resp.given_up() << " given up, "
            << resp.evicted() << " evicted, " << resp.expired() << " expired, "
            << resp.classifier_flows() << " in progress; " << resp.packets_classified()
            << " packets read, ring full " << resp.ring_full() << "\n";
  return kExitOk;
}

int Flows(Context& ctx, const Args& a) {
  v1::ListDpiFlowsRequest req;
  std::string chain, vnf, err;
  if (!Target(a, &chain, &vnf, &err)) return UsageError(kDpiUsage, err);
  req.set_chain(chain);
  req.set_vnf(vnf);
  req.set_app(a.Get("--app"));
  req.set_all(a.Has("--all"));
  uint64_t top = 50;
  if (a.Has("--top") && (!ParseUint(a.Get("--top"), 10000, &top) || top == 0))
    return UsageError(kDpiUsage, "--top: \"" + a.Get("--top") + "\" is not a count (1-10000)");
  req.set_top(static_cast<uint32_t>(top));
  auto stub = v1::DpiService::NewStub(ctx.Channel());
  v1::ListDpiFlowsResponse resp;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st = stub->ListFlows(&call, req, &resp);
  if (!st.ok()) return ReportError("dpi flows " + chain, st);
  if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : resp.flows()) {
    char idle[32];
    std::snprintf(idle, sizeof(idle), "%.1fs", f.idle_seconds());
    std::string state = f.state();
    if (!f.reason().empty()) state += " (" + f.reason() + ")";
    rows.push_back({f.protocol_name(), Endpoint(f.addr_lo(), f.ip_version(), f.port_lo()),
                    Endpoint(f.addr_hi(), f.ip_version(), f.port_hi()), f.app(),
                    f.master().empty() ? "-" : f.master(), f.category(), state,
                    std::to_string(f.packets()), Human(static_cast<double>(f.bytes()), "B"), idle});
  }
  PrintTable({"PROTO", "ENDPOINT", "ENDPOINT", "APP", "MASTER", "CATEGORY", "STATE", "PACKETS",
              "BYTES", "IDLE"},
             rows);
  std::cout << resp.flows_size() << " of " << resp.matched() << " matching flows ("
            << resp.table_flows() << " in the table) in " << chain << "/" << resp.vnf() << "\n";
  return kExitOk;
}

int Protocols(Context& ctx, const Args& a) {
  if (a.positional().size() != 1) return UsageError(kDpiUsage, "protocols: takes no arguments");
  auto stub = v1::DpiService::NewStub(ctx.Channel());
  v1::ListDpiProtocolsResponse resp;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st = stub->ListProtocols(&call, v1::ListDpiProtocolsRequest(), &resp);
  if (!st.ok()) return ReportError("dpi protocols", st);
  if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : resp.protocols())
    rows.push_back({std::to_string(p.id()), p.name(), p.category()});
  PrintTable({"ID", "PROTOCOL", "CATEGORY"}, rows);
  std::cout << resp.protocols_size() << " protocols (nDPI " << resp.ndpi_version() << ")\n";
  return kExitOk;
}

}  // namespace

int RunDpi(Context& ctx, const std::vector<std::string>& args) {
  for (const auto& s : args)
    if (s == "-h" || s == "--help") return std::fputs(kDpiUsage, stdout), kExitOk;
  Args a;
  std::string err;
  if (!Args::Parse(args, {"--app", "--top", "-o", "--output"}, {"--all"}, &a, &err))
    return UsageError(kDpiUsage, err);
  if (a.positional().empty()) return UsageError(kDpiUsage, "dpi: missing command");
  // -o is a global option; accept it after the verb too (sfcctl dpi apps web -o json).
  for (const char* flag : {"-o", "--output"}) {
    if (!a.Has(flag)) continue;
    const std::string o = a.Get(flag);
    if (o == "json")
      ctx.output = Output::kJson;
    else if (o == "table")
      ctx.output = Output::kTable;
    else
      return UsageError(kDpiUsage, std::string(flag) + ": \"" + o + "\" is not table or json");
  }
  const std::string cmd = a.positional()[0];
  if ((a.Has("--app") || a.Has("--all") || a.Has("--top")) && cmd != "flows")
    return UsageError(kDpiUsage, "--app, --all and --top are options of dpi flows");
  if (cmd == "apps") return Apps(ctx, a);
  if (cmd == "flows") return Flows(ctx, a);
  if (cmd == "protocols") return Protocols(ctx, a);
  return UsageError(kDpiUsage, "dpi: unknown command \"" + cmd + "\" (apps, flows, protocols)");
}

}  // namespace sfc::cli
