#include "monitor/service.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <map>

#include "api/convert.h"

namespace sfc::monitor {

Result<WatchOptions> ParseWatchRequest(const v1::WatchRequest& req) {
  if (req.chain().empty()) return InvalidArgument("chain: required");
  WatchOptions o;
  o.vnf = req.vnf();
  switch (req.mode()) {
    case v1::MONITOR_MODE_UNSPECIFIED:
    case v1::MONITOR_MODE_DROPS:
      o.settings.mode = SFC_MON_DROPS;
      break;
    case v1::MONITOR_MODE_ALL:
      o.settings.mode = SFC_MON_ALL;
      break;
    default:
      return InvalidArgument("mode: unknown value " + std::to_string(req.mode()));
  }
  if (req.sample() > kMaxSample)
    return InvalidArgument("sample: at most " + std::to_string(kMaxSample));
  o.settings.sample = std::max(req.sample(), 1u);
  o.settings.rate_per_cpu = req.rate_limit() ? req.rate_limit() : kDefaultRatePerCpu;
  if (o.settings.rate_per_cpu > 1'000'000)
    return InvalidArgument("rate_limit: at most 1000000 events per second per CPU");
  return o;
}

void ToProto(const Event& ev, const std::string& ifname, v1::PacketEvent* out) {
  const sfc_event& r = ev.raw;
  out->mutable_time()->set_seconds(ev.unix_ns / 1'000'000'000);
  out->mutable_time()->set_nanos(static_cast<int32_t>(ev.unix_ns % 1'000'000'000));
  out->set_interface(ifname);
  out->set_ifindex(r.ifindex);
  out->set_vnf(ev.vnf);
  out->set_vnf_type(ev.vnf_type);
  out->set_verdict(std::string(ActionName(r.action)));
  out->set_reason(std::string(ReasonName(r.reason)));
  out->set_rule_id(ev.rule_id);
  out->set_detail(r.detail);
  if (r.l3_proto) {
    std::string_view p = ProtoName(r.l4_proto);
    out->set_proto(p.empty() ? std::to_string(r.l4_proto) : std::string(p));
    out->set_src(AddressText(r.l3_proto, r.saddr));
    out->set_dst(AddressText(r.l3_proto, r.daddr));
    out->set_sport(ntohs(r.sport));
    out->set_dport(ntohs(r.dport));
  }
  out->set_length(r.pkt_len);
  out->set_tcp_flags(r.tcp_flags);
  out->set_icmp_type(r.icmp_type);
  out->set_icmp_code(r.icmp_code);
  out->set_vlan(r.vlan);
}

grpc::Status MonitorServiceImpl::Watch(grpc::ServerContext* ctx, const v1::WatchRequest* req,
                                       grpc::ServerWriter<v1::MonitorEvent>* writer) {
  auto options = ParseWatchRequest(*req);
  if (!options.ok()) return api::ToGrpc(options.status());
  auto sub = hub_.Subscribe(req->chain(), *options);
  if (!sub.ok()) return api::ToGrpc(sub.status());

  std::map<uint32_t, std::string> ifnames;
  auto ifname = [&](uint32_t ifindex) -> const std::string& {
    auto it = ifnames.find(ifindex);
    if (it != ifnames.end()) return it->second;
    char buf[IF_NAMESIZE] = {};
    return ifnames[ifindex] = if_indextoname(ifindex, buf) ? buf : "";
  };

  Counters reported{};
  uint64_t reported_slow = 0;
  auto next_lost = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  grpc::Status result = grpc::Status::OK;
  std::vector<Event> events;
  bool open = true;
  while (open && !ctx->IsCancelled()) {
    const bool alive = (*sub)->Next(&events, std::chrono::milliseconds(200));
    for (const auto& ev : events) {
      v1::MonitorEvent msg;
      ToProto(ev, ifname(ev.raw.ifindex), msg.mutable_packet());
      if (!writer->Write(msg)) {
        open = false;
        break;
      }
    }
    if (!alive) {
      result = api::ToGrpc((*sub)->end_status());
      break;
    }
    if (std::chrono::steady_clock::now() < next_lost) continue;
    next_lost += std::chrono::seconds(1);
    Counters lost = (*sub)->lost();
    uint64_t slow = (*sub)->slow_reader();
    if (lost.lost == reported.lost && lost.rate_limited == reported.rate_limited &&
        lost.sampled_out == reported.sampled_out && slow == reported_slow)
      continue;
    reported = lost;
    reported_slow = slow;
    v1::MonitorEvent msg;
    msg.mutable_lost()->set_rate_limited(lost.rate_limited);
    msg.mutable_lost()->set_sampled_out(lost.sampled_out);
    msg.mutable_lost()->set_ring_full(lost.lost);
    msg.mutable_lost()->set_slow_reader(slow);
    if (!writer->Write(msg)) break;
  }
  hub_.Unsubscribe(*sub);
  return result;
}

}  // namespace sfc::monitor
