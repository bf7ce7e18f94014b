// sfcctl trace's packet expressions: ParsePacketExpr() on any text. A
// rejected expression names its reason; an accepted one builds a frame whose
// decoding shows its addresses, and any prefix of that frame decodes without
// reading past its end (ASan).
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "trace/frame.h"
#include "trace/packet_expr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sfc::trace;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = ParsePacketExpr(text);
  if (!spec.ok()) {
    sfc::fuzz::Check(spec.status().message().starts_with("packet: "),
                     "a rejected packet expression does not say so");
    return 0;
  }
  Bytes frame = BuildFrame(*spec);
  sfc::fuzz::Check(frame.size() >= 14 + 20 + 8, "a frame shorter than its headers");
  std::string line = DescribeFrame(frame);
  sfc::fuzz::Check(line.find(spec->ipv6 ? " IPv6 " : " IPv4 ") != std::string::npos,
                   "the frame does not decode as the family it was built as");
  for (size_t len = 0; len < frame.size(); ++len) (void)DescribeFrame(frame.data(), len);
  return 0;
}
