#include "efm/requests.h"

#include <netinet/in.h>

#include <charconv>
#include <string_view>
#include <utility>

namespace sfc::efm {

Result<uint8_t> ParseProtocol(const std::string& text) {
  static const std::pair<std::string_view, uint8_t> kNames[] = {
      {"tcp", IPPROTO_TCP},      {"udp", IPPROTO_UDP},          {"icmp", IPPROTO_ICMP},
      {"icmp6", IPPROTO_ICMPV6}, {"ipv6-icmp", IPPROTO_ICMPV6}, {"icmpv6", IPPROTO_ICMPV6},
      {"sctp", IPPROTO_SCTP},    {"gre", IPPROTO_GRE},          {"esp", IPPROTO_ESP}};
  for (auto [name, num] : kNames)
    if (text == name) return num;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && end == text.data() + text.size() && v <= 255)
    return static_cast<uint8_t>(v);
  return InvalidArgument("protocol: \"" + text +
                         "\" is not a protocol name (tcp, udp, icmp, ipv6-icmp, ...) or number");
}

Result<uint16_t> ParseApp(const std::string& text) {
  if (auto id = dpi::AppCatalog::Get().AppId(text)) return *id;
  return InvalidArgument("app: unknown application \"" + text +
                         "\" (sfcctl dpi protocols lists them)");
}

}  // namespace sfc::efm
