#include "trace/packet_expr.h"

#include <arpa/inet.h>

#include <charconv>
#include <set>

namespace sfc::trace {
namespace {

struct Token {
  std::string text;
  size_t index;  // 1-based word position, for messages
};

std::vector<Token> Split(std::string_view s) {
  std::vector<Token> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) out.push_back({std::move(cur), out.size() + 1});
    cur.clear();
  };
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n') {
      flush();
    } else if (c == '>') {
      flush();
      out.push_back({">", out.size() + 1});
    } else {
      cur += c;
    }
  }
  flush();
  return out;
}

Status Bad(const Token& t, const std::string& why) {
  return InvalidArgument("packet: word " + std::to_string(t.index) + " \"" + t.text + "\": " + why);
}

template <typename T>
Result<T> Number(const Token& t, std::string_view text, T max, const std::string& what) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v > max)
    return Bad(t, what + " must be a number from 0 to " + std::to_string(max));
  return static_cast<T>(v);
}

struct Endpoint {
  bool ipv6 = false;
  std::array<uint8_t, 16> addr{};
  std::optional<uint16_t> port;
};

Result<Endpoint> ParseEndpoint(const Token& t) {
  Endpoint e;
  std::string host = t.text;
  std::string port;
  if (host.starts_with("[")) {
    size_t close = host.find(']');
    if (close == std::string::npos) return Bad(t, "\"[\" without \"]\"");
    std::string rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest[0] != ':' || rest.size() == 1) return Bad(t, "expected \":PORT\" after \"]\"");
      port = rest.substr(1);
    }
    e.ipv6 = true;
  } else if (size_t colon = host.find(':'); colon != std::string::npos) {
    if (host.find(':', colon + 1) == std::string::npos) {  // one colon: IPv4:PORT
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      if (port.empty()) return Bad(t, "empty port after \":\"");
    } else {
      e.ipv6 = true;
    }
  }
  int ok = inet_pton(e.ipv6 ? AF_INET6 : AF_INET, host.c_str(), e.addr.data());
  if (ok != 1)
    return Bad(t, std::string("not an ") + (e.ipv6 ? "IPv6" : "IPv4") +
                      " address (IPv6 with a port is written [ADDR]:PORT)");
  if (!port.empty()) {
    SFC_ASSIGN_OR_RETURN(uint16_t p, Number<uint16_t>(t, port, 65535, "the port"));
    e.port = p;
  }
  return e;
}

Result<std::array<uint8_t, 6>> ParseMac(const Token& t) {
  std::array<uint8_t, 6> mac{};
  unsigned b[6];
  char tail;
  if (std::sscanf(t.text.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
                  &b[5], &tail) != 6)
    return Bad(t, "not a MAC address (aa:bb:cc:dd:ee:ff)");
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(b[i]);
  return mac;
}

Result<uint8_t> ParseFlags(const Token& t) {
  static constexpr std::string_view kLetters = "FSRPAUEC";  // bit order of byte 13
  uint8_t flags = 0;
  if (t.text == "none") return flags;
  for (char c : t.text) {
    size_t bit = kLetters.find(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    if (bit == std::string_view::npos)
      return Bad(t, std::string("unknown TCP flag '") + c + "' (use S A F R P U E C, or none)");
    flags |= static_cast<uint8_t>(1U << bit);
  }
  return flags;
}

}  // namespace

std::string TcpFlagLetters(uint8_t flags) {
  static constexpr std::pair<uint8_t, char> kOrder[] = {{0x02, 'S'}, {0x10, 'A'}, {0x01, 'F'},
                                                        {0x04, 'R'}, {0x08, 'P'}, {0x20, 'U'},
                                                        {0x40, 'E'}, {0x80, 'C'}};
  std::string out;
  for (auto [bit, c] : kOrder)
    if (flags & bit) out += c;
  return out;
}

Result<PacketSpec> ParsePacketExpr(std::string_view expr) {
  std::vector<Token> tok = Split(expr);
  if (tok.empty())
    return InvalidArgument("packet: empty; expected e.g. \"tcp 10.0.0.1:1234 > 10.0.0.2:80\"");
  PacketSpec spec;
  const Token& proto = tok[0];
  if (proto.text == "tcp") {
    spec.l4 = L4::kTcp;
  } else if (proto.text == "udp") {
    spec.l4 = L4::kUdp;
  } else if (proto.text == "icmp" || proto.text == "icmp6" || proto.text == "icmpv6") {
    spec.l4 = L4::kIcmp;
  } else {
    return Bad(proto, "expected the protocol: tcp, udp, icmp or icmp6");
  }
  auto need = [&](size_t i, const std::string& what) -> Status {
    if (i < tok.size()) return Status::Ok();
    return InvalidArgument("packet: ends after word " + std::to_string(tok.size()) + "; expected " +
                           what);
  };
  SFC_RETURN_IF_ERROR(need(1, "the source address"));
  SFC_ASSIGN_OR_RETURN(Endpoint src, ParseEndpoint(tok[1]));
  SFC_RETURN_IF_ERROR(need(2, "\">\" and the destination"));
  if (tok[2].text != ">") return Bad(tok[2], "expected \">\" between source and destination");
  SFC_RETURN_IF_ERROR(need(3, "the destination address"));
  SFC_ASSIGN_OR_RETURN(Endpoint dst, ParseEndpoint(tok[3]));
  if (src.ipv6 != dst.ipv6) return Bad(tok[3], "source and destination mix IPv4 and IPv6");
  if (proto.text == "icmp6" || proto.text == "icmpv6") {
    if (!src.ipv6) return Bad(proto, "icmp6 needs IPv6 addresses");
  } else if (proto.text == "icmp" && src.ipv6) {
    return Bad(proto, "IPv6 addresses: write icmp6");
  }
  spec.ipv6 = src.ipv6;
  spec.src = src.addr;
  spec.dst = dst.addr;
  if (spec.l4 == L4::kIcmp) {
    if (src.port || dst.port) return Bad(src.port ? tok[1] : tok[3], "ICMP has no ports");
    spec.icmp_type = spec.ipv6 ? 128 : 8;  // echo request
  } else {
    if (!src.port) return Bad(tok[1], "needs a port (ADDR:PORT, [IPv6]:PORT)");
    if (!dst.port) return Bad(tok[3], "needs a port (ADDR:PORT, [IPv6]:PORT)");
    spec.sport = *src.port;
    spec.dport = *dst.port;
  }
  if (spec.l4 != L4::kTcp) spec.tcp_flags = 0;

  std::set<std::string> seen;
  for (size_t i = 4; i < tok.size(); i += 2) {
    const Token& key = tok[i];
    static const std::set<std::string> kKeys = {"flags", "vlan", "ttl", "len",  "type",
                                                "code",  "id",   "iif", "smac", "dmac"};
    if (!kKeys.count(key.text))
      return Bad(key, "expected one of flags, vlan, ttl, len, type, code, id, iif, smac, dmac");
    if (key.text != "vlan" && !seen.insert(key.text).second) return Bad(key, "given twice");
    SFC_RETURN_IF_ERROR(need(i + 1, "a value after \"" + key.text + "\""));
    const Token& val = tok[i + 1];
    if (key.text == "flags") {
      if (spec.l4 != L4::kTcp) return Bad(key, "flags are for tcp only");
      SFC_ASSIGN_OR_RETURN(spec.tcp_flags, ParseFlags(val));
    } else if (key.text == "vlan") {
      if (spec.vlans.size() == 2) return Bad(key, "at most two VLAN tags (802.1ad + 802.1Q)");
      SFC_ASSIGN_OR_RETURN(uint16_t vid, Number<uint16_t>(val, val.text, 4094, "the VLAN id"));
      if (vid == 0) return Bad(val, "the VLAN id must be from 1 to 4094");
      spec.vlans.push_back(vid);
    } else if (key.text == "ttl") {
      SFC_ASSIGN_OR_RETURN(spec.ttl, Number<uint8_t>(val, val.text, 255, "the TTL"));
    } else if (key.text == "len") {
      SFC_ASSIGN_OR_RETURN(spec.payload_len,
                           Number<uint16_t>(val, val.text, kMaxPayload, "the payload length"));
    } else if (key.text == "type" || key.text == "code" || key.text == "id") {
      if (spec.l4 != L4::kIcmp) return Bad(key, "\"" + key.text + "\" is for icmp only");
      if (key.text == "id") {
        SFC_ASSIGN_OR_RETURN(spec.icmp_id, Number<uint16_t>(val, val.text, 65535, "the id"));
      } else {
        SFC_ASSIGN_OR_RETURN(uint8_t v, Number<uint8_t>(val, val.text, 255, "the " + key.text));
        (key.text == "type" ? spec.icmp_type : spec.icmp_code) = v;
      }
    } else if (key.text == "iif") {
      if (val.text.size() >= 16 || val.text.find('/') != std::string::npos)
        return Bad(val, "not an interface name");
      spec.iif = val.text;
    } else {
      SFC_ASSIGN_OR_RETURN(auto mac, ParseMac(val));
      (key.text == "smac" ? spec.smac : spec.dmac) = mac;
    }
  }
  return spec;
}

}  // namespace sfc::trace
