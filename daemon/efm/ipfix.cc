#include "efm/ipfix.h"

#include <netinet/in.h>

namespace sfc::efm {
namespace {

const std::vector<IpfixField> kV4Fields = {
    {ie::kSourceIPv4Address, 4},
    {ie::kDestinationIPv4Address, 4},
    {ie::kSourceTransportPort, 2},
    {ie::kDestinationTransportPort, 2},
    {ie::kProtocolIdentifier, 1},
    {ie::kTcpControlBits, 2},
    {ie::kIcmpTypeCodeIPv4, 2},
    {ie::kIngressInterface, 4},
    {ie::kVlanId, 2},
    {ie::kDot1qCustomerVlanId, 2},
    {ie::kOctetDeltaCount, 8},
    {ie::kPacketDeltaCount, 8},
    {ie::kFlowStartMilliseconds, 8},
    {ie::kFlowEndMilliseconds, 8},
    {ie::kFlowEndReason, 1},
    {ie::kApplicationId, kApplicationIdLength},
};
const std::vector<IpfixField> kV6Fields = {
    {ie::kSourceIPv6Address, 16},
    {ie::kDestinationIPv6Address, 16},
    {ie::kSourceTransportPort, 2},
    {ie::kDestinationTransportPort, 2},
    {ie::kProtocolIdentifier, 1},
    {ie::kTcpControlBits, 2},
    {ie::kIcmpTypeCodeIPv6, 2},
    {ie::kIngressInterface, 4},
    {ie::kVlanId, 2},
    {ie::kDot1qCustomerVlanId, 2},
    {ie::kOctetDeltaCount, 8},
    {ie::kPacketDeltaCount, 8},
    {ie::kFlowStartMilliseconds, 8},
    {ie::kFlowEndMilliseconds, 8},
    {ie::kFlowEndReason, 1},
    {ie::kApplicationId, kApplicationIdLength},
};

constexpr size_t kMessageHeader = 16;
constexpr size_t kSetHeader = 4;

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>* b) : b_(b) {}
  void U8(uint8_t v) { b_->push_back(v); }
  void U16(uint16_t v) {
    U8(static_cast<uint8_t>(v >> 8));
    U8(static_cast<uint8_t>(v));
  }
  void U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    U16(static_cast<uint16_t>(v));
  }
  void U64(uint64_t v) {
    U32(static_cast<uint32_t>(v >> 32));
    U32(static_cast<uint32_t>(v));
  }
  // Bytes already in network order.
  void Raw(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b_->insert(b_->end(), c, c + n);
  }
  void Put16At(size_t off, uint16_t v) {
    (*b_)[off] = static_cast<uint8_t>(v >> 8);
    (*b_)[off + 1] = static_cast<uint8_t>(v);
  }

 private:
  std::vector<uint8_t>* b_;
};

uint64_t ToMillis(uint64_t mono_ns, int64_t wall_offset_ns) {
  const int64_t wall = static_cast<int64_t>(mono_ns) + wall_offset_ns;
  return wall > 0 ? static_cast<uint64_t>(wall) / 1'000'000 : 0;
}

void WriteTemplateSet(Writer& w, std::vector<uint8_t>& msg) {
  const size_t set_start = msg.size();
  w.U16(kIpfixTemplateSetId);
  w.U16(0);  // length, patched below
  for (auto [id, fields] :
       {std::pair{kIpfixTemplateV4, &kV4Fields}, std::pair{kIpfixTemplateV6, &kV6Fields}}) {
    w.U16(id);
    w.U16(static_cast<uint16_t>(fields->size()));
    for (const auto& f : *fields) {
      w.U16(f.id);
      w.U16(f.length);
    }
  }
  w.Put16At(set_start + 2, static_cast<uint16_t>(msg.size() - set_start));
}

void WriteRecord(Writer& w, const FlowRecord& r, int64_t wall_offset_ns) {
  const FlowKey& k = r.key;
  const size_t addr_len = k.family == 4 ? 4 : 16;
  w.Raw(k.saddr, addr_len);
  w.Raw(k.daddr, addr_len);
  w.U16(IsIcmp(k) ? 0 : SrcPort(k));
  w.U16(DstPort(k));  // ICMP: type << 8 | code, as collectors expect
  w.U8(k.proto);
  w.U16(r.tcp_flags);
  w.U16(IcmpTypeCode(k));
  w.U32(k.ifindex);
  w.U16(k.vlan_outer);
  w.U16(k.vlan_inner);
  w.U64(r.bytes);
  w.U64(r.packets);
  w.U64(ToMillis(r.start_ns, wall_offset_ns));
  w.U64(ToMillis(r.end_ns, wall_offset_ns));
  w.U8(static_cast<uint8_t>(r.reason));
  uint8_t app[kApplicationIdLength];
  PutApplicationId(r.app, app);
  w.Raw(app, sizeof(app));
}

}  // namespace

void PutApplicationId(uint16_t ndpi_id, uint8_t out[kApplicationIdLength]) {
  out[0] = kAppEnginePanaL7Pen;
  out[1] = static_cast<uint8_t>(kNtopPen >> 24);
  out[2] = static_cast<uint8_t>(kNtopPen >> 16);
  out[3] = static_cast<uint8_t>(kNtopPen >> 8);
  out[4] = static_cast<uint8_t>(kNtopPen);
  out[5] = static_cast<uint8_t>(ndpi_id >> 8);
  out[6] = static_cast<uint8_t>(ndpi_id);
}

const std::vector<IpfixField>& IpfixTemplateFields(int family) {
  return family == 4 ? kV4Fields : kV6Fields;
}

size_t IpfixRecordSize(int family) {
  size_t n = 0;
  for (const auto& f : IpfixTemplateFields(family)) n += f.length;
  return n;
}

IpfixEncoder::IpfixEncoder(uint32_t observation_domain, size_t max_message_size)
    : domain_(observation_domain), max_message_(max_message_size) {}

std::vector<std::vector<uint8_t>> IpfixEncoder::Encode(const std::vector<FlowRecord>& records,
                                                       int64_t wall_offset_ns,
                                                       uint32_t export_time_s,
                                                       bool with_templates) {
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> msg;
  Writer w(&msg);
  uint32_t in_msg = 0;   // data records in the current message
  size_t set_start = 0;  // offset of the open data set's header
  uint16_t set_id = 0;   // template of the open data set, 0 if none

  auto close_set = [&] {
    if (set_id) w.Put16At(set_start + 2, static_cast<uint16_t>(msg.size() - set_start));
    set_id = 0;
  };
  auto open_message = [&] {
    msg.clear();
    w.U16(kIpfixVersion);
    w.U16(0);  // length, patched in finish_message
    w.U32(export_time_s);
    w.U32(sequence_);
    w.U32(domain_);
    in_msg = 0;
  };
  auto finish_message = [&] {
    close_set();
    w.Put16At(2, static_cast<uint16_t>(msg.size()));
    sequence_ += in_msg;
    out.push_back(std::move(msg));
    msg = {};
  };

  open_message();
  if (with_templates) WriteTemplateSet(w, msg);
  bool has_content = with_templates;
  for (const FlowRecord& r : records) {
    const int family = r.key.family == 4 ? 4 : 6;
    const uint16_t tid = family == 4 ? kIpfixTemplateV4 : kIpfixTemplateV6;
    const size_t need = IpfixRecordSize(family) + (set_id == tid ? 0 : kSetHeader);
    if (has_content && msg.size() + need > max_message_) {
      finish_message();
      open_message();
    }
    if (set_id != tid) {
      close_set();
      set_start = msg.size();
      set_id = tid;
      w.U16(tid);
      w.U16(0);
    }
    WriteRecord(w, r, wall_offset_ns);
    ++in_msg;
    has_content = true;
  }
  if (has_content) finish_message();
  return out;
}

}  // namespace sfc::efm
