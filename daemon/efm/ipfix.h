// IPFIX (RFC 7011) message encoding for eFM flow records: one template for
// IPv4 flows, one for IPv6, standard IANA information elements only. Pure:
// the exporter owns the sockets and the clocks.
#pragma once

#include <cstdint>
#include <vector>

#include "efm/flow_record.h"

namespace sfc::efm {

inline constexpr uint16_t kIpfixVersion = 10;
inline constexpr uint16_t kIpfixTemplateSetId = 2;
inline constexpr uint16_t kIpfixTemplateV4 = 256;
inline constexpr uint16_t kIpfixTemplateV6 = 257;
// Fits the path MTU of any sane network (IPv6 minimum 1280 minus headers is
// 1232; Ethernet leaves 1472 for UDP over IPv4): RFC 7011 §10.3.3 asks UDP
// exporters not to rely on IP fragmentation.
inline constexpr size_t kIpfixDefaultMaxMessage = 1200;

// IANA IPFIX information element ids used by the templates.
namespace ie {
inline constexpr uint16_t kOctetDeltaCount = 1;
inline constexpr uint16_t kPacketDeltaCount = 2;
inline constexpr uint16_t kProtocolIdentifier = 4;
inline constexpr uint16_t kTcpControlBits = 6;
inline constexpr uint16_t kSourceTransportPort = 7;
inline constexpr uint16_t kSourceIPv4Address = 8;
inline constexpr uint16_t kIngressInterface = 10;
inline constexpr uint16_t kDestinationTransportPort = 11;
inline constexpr uint16_t kDestinationIPv4Address = 12;
inline constexpr uint16_t kSourceIPv6Address = 27;
inline constexpr uint16_t kDestinationIPv6Address = 28;
inline constexpr uint16_t kIcmpTypeCodeIPv4 = 32;
inline constexpr uint16_t kVlanId = 58;
inline constexpr uint16_t kApplicationId = 95;
inline constexpr uint16_t kFlowEndReason = 136;
inline constexpr uint16_t kIcmpTypeCodeIPv6 = 139;
inline constexpr uint16_t kFlowStartMilliseconds = 152;
inline constexpr uint16_t kFlowEndMilliseconds = 153;
inline constexpr uint16_t kDot1qCustomerVlanId = 245;
}  // namespace ie

// applicationId (IE 95) as RFC 6759 §4 encodes it: a Classification Engine
// ID, then the Selector ID. The engine is 20, PANA-L7-PEN ("proprietary layer
// 7 definition, including a Private Enterprise Number"), so the selector is
// the PEN of the registry the ids come from, ntop's 35632 (nDPI's ids),
// followed by the nDPI protocol id in 2 bytes, network order:
//   0x14 | 0x00 0x00 0x8b 0x30 | id >> 8, id & 0xff
// 0 is nDPI's "Unknown": flows no dpi VNF classified.
inline constexpr uint8_t kAppEnginePanaL7Pen = 20;
inline constexpr uint32_t kNtopPen = 35632;
inline constexpr uint16_t kApplicationIdLength = 7;
void PutApplicationId(uint16_t ndpi_id, uint8_t out[kApplicationIdLength]);

struct IpfixField {
  uint16_t id;
  uint16_t length;
};
// The fields of each template, in record order.
const std::vector<IpfixField>& IpfixTemplateFields(int family);
size_t IpfixRecordSize(int family);

class IpfixEncoder {
 public:
  explicit IpfixEncoder(uint32_t observation_domain,
                        size_t max_message_size = kIpfixDefaultMaxMessage);

  // Encodes `records` into as many messages as their size needs. With
  // `with_templates`, the first message starts with the template set (also
  // when there are no records). `wall_offset_ns` turns the records'
  // CLOCK_MONOTONIC times into Unix time; `export_time_s` is the header's
  // Export Time. Advances the sequence number by the records encoded.
  std::vector<std::vector<uint8_t>> Encode(const std::vector<FlowRecord>& records,
                                           int64_t wall_offset_ns, uint32_t export_time_s,
                                           bool with_templates);

  // Data records sent so far, modulo 2^32: the next message's Sequence Number.
  uint32_t sequence() const { return sequence_; }
  uint32_t observation_domain() const { return domain_; }

 private:
  uint32_t domain_;
  size_t max_message_;
  uint32_t sequence_ = 0;
};

}  // namespace sfc::efm
