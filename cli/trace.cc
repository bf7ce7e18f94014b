#include "trace.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "sfc/v1/trace.grpc.pb.h"

namespace sfc::cli {
namespace {

constexpr const char* kUsage =
    R"(usage: sfcctl trace CHAIN PACKET

Runs one crafted packet through the chain's own programs (BPF_PROG_TEST_RUN on
a private copy of the live chain, its tables copied from the live ones) and
prints each stage's verdict and why (firewall rule or default and connection
state, load balancer backend), the table entries the packet created or
changed, the frame as the chain left it (rewritten addresses and MACs) and
the egress result. The live chain's counters and tables do not change.

PACKET, one argument (quote it):
  PROTO SRC > DST [flags F] [vlan ID [vlan ID]] [ttl N] [len N]
                  [type N] [code N] [id N] [iif IFNAME] [smac MAC] [dmac MAC]
  PROTO   tcp, udp, icmp or icmp6
  SRC/DST IPv4:PORT, [IPv6]:PORT; no port for icmp
  F       TCP flags as letters: S A F R P U E C (default S)
  iif     the ingress interface (default: the chain's first)

examples:
  sfcctl trace web 'tcp 10.0.0.1:1234 > 10.0.0.100:80 flags S iif eth0'
  sfcctl trace web 'udp [2001:db8::1]:5353 > [2001:db8::2]:53 vlan 100'
  sfcctl trace web 'icmp 10.0.0.1 > 10.0.0.2 type 8 id 7'
)";

std::string Endpoint(const std::string& addr, uint32_t port, const std::string& proto) {
  if (addr.empty()) return "-";
  if (proto != "tcp" && proto != "udp") return addr;
  bool v6 = addr.find(':') != std::string::npos;
  return (v6 ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

void PrintTable(const v1::TraceReply& r) {
  std::printf("in   %s (iif %s)\n", r.frame_in_text().c_str(),
              r.interface().empty() ? "-" : r.interface().c_str());
  std::printf("%-3s %-10s %-13s %-9s %-26s %s\n", "#", "STAGE", "TYPE", "VERDICT", "WHY",
              "PACKET AS SEEN");
  int n = 0;
  for (const auto& hop : r.hops()) {
    const auto& e = hop.event();
    std::string why = e.reason();
    if (!e.rule_id().empty()) why += " " + e.rule_id();
    if (e.reason() == "fw_default") {
      // The firewall's connection states (bpf/efw/efw.h, enum efw_ct_state).
      static const char* kStates[] = {"new", "established", "related", "invalid", "untracked"};
      why += std::string(" (") + (e.detail() < 5 ? kStates[e.detail()] : "?") + ")";
    }
    if (e.reason() == "fib_pass" || e.reason() == "fib_drop")
      why += " (rc " + std::to_string(e.detail()) + ")";
    std::printf("%-3d %-10s %-13s %-9s %-26s %s %s > %s\n", ++n, e.vnf().c_str(),
                e.vnf_type().empty() ? "-" : e.vnf_type().c_str(), e.verdict().c_str(), why.c_str(),
                e.proto().empty() ? "-" : e.proto().c_str(),
                Endpoint(e.src(), e.sport(), e.proto()).c_str(),
                Endpoint(e.dst(), e.dport(), e.proto()).c_str());
    for (const auto& s : hop.state())
      std::printf("      %s %s %s = %s\n", s.created() ? "+" : "~", s.map().c_str(),
                  s.key().c_str(), s.value().c_str());
  }
  std::printf("out  %s\n", r.frame_out_text().c_str());
  std::string result = r.result();
  if (!r.egress_interface().empty() || r.egress_ifindex())
    result += " to " + (r.egress_interface().empty() ? std::to_string(r.egress_ifindex())
                                                     : r.egress_interface());
  std::printf("result %s\n", result.c_str());
  std::printf(
      "(private copy of the chain: %llu ms, of which %llu table entries copied in %llu "
      "ms; run %llu us)\n",
      static_cast<unsigned long long>(r.build_us() / 1000),
      static_cast<unsigned long long>(r.entries_copied()),
      static_cast<unsigned long long>(r.copy_us() / 1000),
      static_cast<unsigned long long>(r.run_us()));
}

}  // namespace

int RunTrace(Context& ctx, const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "-h" || a == "--help") return std::fputs(kUsage, stdout), kExitOk;
  if (args.size() != 2)
    return UsageError(kUsage, "trace: expected a chain NAME and one quoted PACKET");
  v1::TraceRequest req;
  req.set_chain(args[0]);
  req.set_packet(args[1]);
  auto stub = v1::TraceService::NewStub(ctx.Channel());
  grpc::ClientContext call;
  v1::TraceReply reply;
  grpc::Status st = stub->Trace(&call, req, &reply);
  if (!st.ok()) return ReportError("trace " + args[0], st);
  if (ctx.output == Output::kJson) {
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    opts.always_print_primitive_fields = true;
    opts.add_whitespace = true;
    std::string out;
    (void)google::protobuf::util::MessageToJsonString(reply, &out, opts);
    std::cout << out << "\n";
  } else {
    PrintTable(reply);
  }
  return kExitOk;
}

}  // namespace sfc::cli
