#include "dpi/requests.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dpi/app_catalog.h"

namespace sfc::dpi {
namespace {

std::string Address(const __u32 (&a)[4], uint8_t family) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, sizeof(buf));
  return buf;
}

}  // namespace

std::string StateName(uint8_t state) {
  switch (state) {
    case DPI_PENDING:
      return "pending";
    case DPI_CLASSIFIED:
      return "classified";
    case DPI_GIVEN_UP:
      return "given-up";
  }
  return "state-" + std::to_string(state);
}

std::string ReasonName(uint8_t reason) {
  switch (reason) {
    case DPI_GIVEUP_NONE:
      return "";
    case DPI_GIVEUP_PACKETS:
      return "max-packets";
    case DPI_GIVEUP_RING_FULL:
      return "ring-full";
    case DPI_GIVEUP_EVICTED:
      return "evicted";
    case DPI_GIVEUP_LOST:
      return "lost";
  }
  return "reason-" + std::to_string(reason);
}

Result<FlowFilter> ParseFlowFilter(const v1::ListDpiFlowsRequest& req) {
  FlowFilter f;
  f.all = req.all();
  f.top = req.top() == 0 ? kMaxListedFlows : std::min<size_t>(req.top(), kMaxListedFlows);
  if (!req.app().empty()) {
    const AppCatalog& cat = AppCatalog::Get();
    auto id = cat.AppId(req.app());
    if (!id)
      return InvalidArgument("app: \"" + req.app() + "\" is not a protocol nDPI " +
                             cat.library_version() + " knows (see sfcctl dpi protocols)");
    f.app = *id;
    // Asking for Unknown flows means the ones without an answer.
    if (*id == 0) f.all = true;
  }
  return f;
}

bool Matches(const FlowFilter& f, const dpi_flow& v) {
  if (!f.all && v.state != DPI_CLASSIFIED) return false;
  if (f.app && v.app != *f.app && (v.master != *f.app || *f.app == 0)) return false;
  return true;
}

void FillFlow(const dpi_flow_key& k, const dpi_flow& v, uint64_t now_ns, v1::DpiFlow* out) {
  const AppCatalog& cat = AppCatalog::Get();
  out->set_ip_version(k.family);
  out->set_protocol(k.proto);
  out->set_protocol_name(k.proto == IPPROTO_TCP   ? "tcp"
                         : k.proto == IPPROTO_UDP ? "udp"
                                                  : std::to_string(k.proto));
  out->set_addr_lo(Address(k.addr_lo, k.family));
  out->set_port_lo(ntohs(k.port_lo));
  out->set_addr_hi(Address(k.addr_hi, k.family));
  out->set_port_hi(ntohs(k.port_hi));
  out->set_state(StateName(v.state));
  out->set_reason(ReasonName(v.reason));
  out->set_app(cat.AppName(v.app));
  out->set_app_id(v.app);
  if (v.master != 0) out->set_master(cat.AppName(v.master));
  out->set_master_id(v.master);
  out->set_category(cat.CategoryName(v.category));
  out->set_category_id(v.category);
  out->set_packets(v.packets);
  out->set_bytes(v.bytes);
  out->set_packets_inspected(v.fed);
  out->set_idle_seconds(now_ns > v.last_seen_ns ? (now_ns - v.last_seen_ns) / 1e9 : 0.0);
}

}  // namespace sfc::dpi
