#include "flows.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <charconv>
#include <cstdio>
#include <iostream>

#include "sfc/v1/flowmon.grpc.pb.h"

namespace sfc::cli {
namespace {

constexpr const char* kFlowsUsage =
    R"(usage: sfcctl flows CHAIN [--vnf NAME] [--top N] [--sort bytes|packets|rate]
                    [--prefix CIDR] [--port N] [--proto NAME|NUMBER] [--app NAME]
                    [--watch | --summary] [-o table|json]

Shows the live flows of a chain's flowmon VNF (--vnf when it has several),
largest first: --top N of them (default 20), sorted by bytes (default),
packets or rate (bytes per second over the last scan interval). Filters:
--prefix matches the source or destination address, --port the source or
destination port, --proto the protocol, --app the application a dpi VNF
earlier in the chain named for the flow (nDPI's name; "Unknown" for flows
it did not classify). The APP column shows it.

--watch streams flow records as the exporter emits them (idle or active
timeout, TCP FIN/RST, eviction), one line each (JSON Lines with -o json).
--summary shows the table's totals: active flows, evictions, rates, IPFIX.
)";

bool WantsHelp(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "-h" || a == "--help") return true;
  return false;
}

bool ParseUint(const std::string& s, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > max) return false;
  *out = v;
  return true;
}

std::string Endpoint(const std::string& addr, uint32_t ip_version, uint32_t port, bool has_port) {
  if (!has_port) return addr;
  return (ip_version == 6 ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

bool HasPorts(const v1::Flow& f) {
  return f.protocol() == 6 || f.protocol() == 17 || f.protocol() == 132;
}

std::string Source(const v1::Flow& f) {
  return Endpoint(f.src(), f.ip_version(), f.src_port(), HasPorts(f));
}
std::string Destination(const v1::Flow& f) {
  std::string d = Endpoint(f.dst(), f.ip_version(), f.dst_port(), HasPorts(f));
  if (f.protocol() == 1 || f.protocol() == 58)
    d += " (" + std::to_string(f.icmp_type()) + "/" + std::to_string(f.icmp_code()) + ")";
  return d;
}

double Seconds(const v1::Flow& f) {
  using google::protobuf::util::TimeUtil;
  return static_cast<double>(TimeUtil::TimestampToNanoseconds(f.last_seen()) -
                             TimeUtil::TimestampToNanoseconds(f.first_seen())) /
         1e9;
}

std::string Duration(double secs) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fs", secs);
  return buf;
}

std::string Vlan(const v1::Flow& f) {
  if (!f.vlan_id()) return "-";
  std::string s = std::to_string(f.vlan_id());
  if (f.inner_vlan_id()) s += "." + std::to_string(f.inner_vlan_id());
  return s;
}

std::string JsonLine(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(msg, &out, opts);
  return out;
}

template <typename Req>
bool FillFilters(const Args& a, Req* req, std::string* err) {
  req->set_vnf(a.Get("--vnf"));
  req->set_prefix(a.Get("--prefix"));
  req->set_protocol(a.Get("--proto"));
  req->set_app(a.Get("--app"));
  if (a.Has("--port")) {
    uint64_t port = 0;
    if (!ParseUint(a.Get("--port"), 65535, &port)) {
      *err = "--port: \"" + a.Get("--port") + "\" is not a port";
      return false;
    }
    req->set_port(static_cast<uint32_t>(port));
  }
  return true;
}

int List(Context& ctx, const Args& a, const std::string& chain) {
  v1::ListFlowsRequest req;
  req.set_chain(chain);
  std::string err;
  if (!FillFilters(a, &req, &err)) return UsageError(kFlowsUsage, err);
  uint64_t top = 20;
  if (a.Has("--top") && (!ParseUint(a.Get("--top"), 100000, &top) || top == 0))
    return UsageError(kFlowsUsage, "--top: \"" + a.Get("--top") + "\" is not a count (1-100000)");
  req.set_top(static_cast<uint32_t>(top));
  req.set_sort(a.Get("--sort", "bytes"));

  auto stub = v1::FlowService::NewStub(ctx.Channel());
  v1::ListFlowsResponse resp;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st = stub->ListFlows(&call, req, &resp);
  if (!st.ok()) return ReportError("flows " + chain, st);
  if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;

  std::vector<std::vector<std::string>> rows;
  for (const auto& f : resp.flows())
    rows.push_back({f.protocol_name(), Source(f), Destination(f), Vlan(f),
                    std::to_string(f.ingress_ifindex()), std::to_string(f.packets()),
                    Human(static_cast<double>(f.bytes()), "B"), Human(f.bytes_per_second(), "B/s"),
                    f.tcp_flags_text().empty() ? "-" : f.tcp_flags_text(), Duration(Seconds(f)),
                    f.app().empty() ? "Unknown" : f.app()});
  PrintTable({"PROTO", "SOURCE", "DESTINATION", "VLAN", "IF", "PACKETS", "BYTES", "RATE", "FLAGS",
              "DURATION", "APP"},
             rows);
  std::cout << resp.flows_size() << " of " << resp.matched() << " matching flows ("
            << resp.active_flows() << " active) in " << chain << "/" << resp.vnf() << "\n";
  return kExitOk;
}

int Summary(Context& ctx, const Args& a, const std::string& chain) {
  v1::GetFlowSummaryRequest req;
  req.set_chain(chain);
  req.set_vnf(a.Get("--vnf"));
  auto stub = v1::FlowService::NewStub(ctx.Channel());
  v1::FlowSummary s;
  grpc::ClientContext call;
  SetDeadline(&call);
  auto st = stub->GetSummary(&call, req, &s);
  if (!st.ok()) return ReportError("flows --summary " + chain, st);
  if (ctx.output == Output::kJson) return PrintJson(s), kExitOk;
  std::string collectors;
  for (const auto& c : s.ipfix_collectors()) collectors += (collectors.empty() ? "" : ", ") + c;
  std::cout << "Flow monitor:    " << s.chain() << "/" << s.vnf() << "\n"
            << "Active flows:    " << s.active_flows() << " of " << s.max_flows() << "\n"
            << "Flows created:   " << s.flows_created() << " (" << Human(s.new_flows_per_second())
            << "/s)\n"
            << "Evictions:       " << s.evictions() << "\n"
            << "Insert failures: " << s.insert_failures() << "\n"
            << "Traffic:         " << Human(s.packets_per_second()) << " packets/s, "
            << Human(s.bytes_per_second(), "B/s") << "\n"
            << "Exported:        " << s.records_exported() << " records, " << s.packets_exported()
            << " packets, " << Human(static_cast<double>(s.bytes_exported()), "B") << "\n"
            << "Timeouts:        idle " << s.idle_timeout_s() << "s, active "
            << s.active_timeout_s() << "s\n"
            << "IPFIX:           " << (collectors.empty() ? "off" : collectors) << " ("
            << s.ipfix_messages_sent() << " messages, " << s.ipfix_send_errors() << " errors)\n"
            << "Last scan:       "
            << (s.has_scanned_at() ? google::protobuf::util::TimeUtil::ToString(s.scanned_at())
                                   : std::string("not yet"))
            << " (" << s.scan_duration_ms() << " ms)\n";
  return kExitOk;
}

int Watch(Context& ctx, const Args& a, const std::string& chain) {
  v1::WatchFlowsRequest req;
  req.set_chain(chain);
  std::string err;
  if (!FillFilters(a, &req, &err)) return UsageError(kFlowsUsage, err);
  auto stub = v1::FlowService::NewStub(ctx.Channel());
  grpc::ClientContext call;
  auto reader = stub->WatchFlows(&call, req);
  v1::FinishedFlow msg;
  if (ctx.output == Output::kTable)
    std::printf("%-24s %-14s %-9s %-44s %-44s %10s %10s %9s %s\n", "END", "REASON", "PROTO",
                "SOURCE", "DESTINATION", "PACKETS", "BYTES", "DURATION", "APP");
  while (reader->Read(&msg)) {
    const v1::Flow& f = msg.flow();
    if (ctx.output == Output::kJson) {
      std::cout << JsonLine(msg) << "\n";
    } else {
      std::printf("%-24s %-14s %-9s %-44s %-44s %10llu %10s %9s %s\n",
                  google::protobuf::util::TimeUtil::ToString(f.last_seen()).c_str(),
                  msg.end_reason().c_str(), f.protocol_name().c_str(), Source(f).c_str(),
                  Destination(f).c_str(), static_cast<unsigned long long>(f.packets()),
                  Human(static_cast<double>(f.bytes()), "B").c_str(), Duration(Seconds(f)).c_str(),
                  f.app().empty() ? "Unknown" : f.app().c_str());
    }
    std::cout.flush();
  }
  auto st = reader->Finish();
  if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED)
    return ReportError("flows --watch " + chain, st);
  return kExitOk;
}

}  // namespace

int RunFlows(Context& ctx, const std::vector<std::string>& args) {
  if (WantsHelp(args)) return std::fputs(kFlowsUsage, stdout), kExitOk;
  Args a;
  std::string err;
  if (!Args::Parse(
          args,
          {"--vnf", "--top", "--sort", "--prefix", "--port", "--proto", "--app", "-o", "--output"},
          {"--watch", "-w", "--summary"}, &a, &err))
    return UsageError(kFlowsUsage, err);
  if (a.positional().size() != 1) return UsageError(kFlowsUsage, "flows: expected one chain NAME");
  // -o is a global option; accept it after the verb too (sfcctl flows web -o json).
  for (const char* flag : {"-o", "--output"}) {
    if (!a.Has(flag)) continue;
    const std::string o = a.Get(flag);
    if (o == "json")
      ctx.output = Output::kJson;
    else if (o == "table")
      ctx.output = Output::kTable;
    else
      return UsageError(kFlowsUsage, std::string(flag) + ": \"" + o + "\" is not table or json");
  }
  const std::string chain = a.positional()[0];
  const bool watch = a.Has("--watch") || a.Has("-w");
  if (watch && a.Has("--summary"))
    return UsageError(kFlowsUsage, "--watch and --summary exclude each other");
  if (a.Has("--summary")) return Summary(ctx, a, chain);
  if (watch) return Watch(ctx, a, chain);
  return List(ctx, a, chain);
}

}  // namespace sfc::cli
