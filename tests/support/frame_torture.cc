#include "support/frame_torture.h"

#include <algorithm>

namespace sfc::test {
namespace {

void Put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = v >> 8;
  b[off + 1] = v & 0xff;
}

}  // namespace

void FrameTorture::SetAddresses(std::vector<std::string> v4, std::vector<std::string> v6) {
  v4_ = std::move(v4);
  v6_ = std::move(v6);
}

TortureFrame FrameTorture::Next() {
  if (Chance(2)) {
    // Noise: no structure at all beyond the minimum Ethernet length.
    TortureFrame f;
    f.bytes.resize(14 + Pick(600));
    for (auto& b : f.bytes) b = static_cast<uint8_t>(Pick(256));
    f.recipe = "random " + std::to_string(f.bytes.size()) + "B";
    f.mutated = true;
    return f;
  }
  Layout layout;
  TortureFrame f = Build(&layout);
  if (Chance(mutate_percent_)) Mutate(f, layout);
  return f;
}

TortureFrame FrameTorture::Valid() {
  Layout layout;
  return Build(&layout);
}

size_t FrameTorture::PayloadSize() {
  const int band = Pick(100);
  if (band < 60) return Pick(65);
  if (band < 85) return 65 + Pick(1436);
  if (band < 95) return 1501 + Pick(1900);
  return 3401 + Pick(5540);  // jumbo: up to ~9,000 bytes on the wire
}

uint16_t FrameTorture::RandomLength16() {
  static const uint16_t kEdges[] = {0, 1, 7, 8, 19, 20, 39, 40, 0x7fff, 0xffff};
  if (Chance(50)) return kEdges[Pick(10)];
  return static_cast<uint16_t>(Pick(65536));
}

TortureFrame FrameTorture::Build(Layout* layout) {
  TortureFrame f;
  PacketBuilder b;
  std::string& r = f.recipe;

  // 0-3 tags, either TPID: the parser follows two.
  const int tag_roll = Pick(100);
  const int tags = tag_roll < 55 ? 0 : tag_roll < 80 ? 1 : tag_roll < 93 ? 2 : 3;
  for (int i = 0; i < tags; ++i) {
    const bool ad = Chance(50);
    b.Vlan(static_cast<uint16_t>(Pick(4096)), ad ? 0x88a8 : 0x8100);
    r += ad ? "ad " : "q ";
  }
  layout->l3_off = 14 + 4 * tags;

  const int l3_roll = Pick(100);
  if (l3_roll < 5) {
    static const uint16_t kTypes[] = {0x0806, 0x88cc, 0x8847, 0x0000, 0xffff};
    const uint16_t type = Chance(60) ? kTypes[Pick(5)] : static_cast<uint16_t>(Pick(65536));
    b.EtherType(type).Payload(PayloadSize(), static_cast<uint8_t>(Pick(256)));
    layout->l3_off = 0;
    f.bytes = b.Build();
    r += "ethertype " + std::to_string(type) + " " + std::to_string(f.bytes.size()) + "B";
    return f;
  }
  const bool v6 = l3_roll >= 55;
  layout->family = v6 ? 6 : 4;
  const auto& pool = v6 ? v6_ : v4_;
  const std::string& src = pool[Pick(static_cast<int>(pool.size()))];
  const std::string& dst = pool[Pick(static_cast<int>(pool.size()))];
  const auto ttl = static_cast<uint8_t>(Chance(10) ? Pick(3) : Pick(256));
  size_t l4_off = layout->l3_off;
  if (!v6) {
    b.Ipv4(src, dst, ttl);
    r += "v4";
    l4_off += 20;
    if (Chance(20)) {
      Bytes opts(1 + Pick(40));
      for (auto& o : opts) o = static_cast<uint8_t>(Chance(50) ? 1 : Pick(256));  // NOPs, junk
      b.Ipv4Options(opts);
      l4_off += (opts.size() + 3) / 4 * 4;
      r += " opts" + std::to_string(opts.size());
    }
    if (Chance(10)) {
      const bool later = Chance(60);
      b.Ipv4Fragment(later ? static_cast<uint16_t>(8 * (1 + Pick(1000))) : 0,
                     later ? Chance(50) : true);
      r += later ? " frag-later" : " frag-first";
    }
  } else {
    b.Ipv6(src, dst, ttl);
    r += "v6";
    l4_off += 40;
    if (Chance(25)) {
      // Usually a short chain; sometimes longer than the six the parser follows.
      const int n = Chance(90) ? 1 + Pick(3) : 5 + Pick(4);
      r += " ext[";
      for (int i = 0; i < n; ++i) {
        static const uint8_t kTypes[] = {0, 43, 60, 44};
        const uint8_t type = kTypes[Pick(4)];
        r += std::to_string(type) + (i + 1 < n ? "," : "]");
        if (type == 44) {
          const bool later = Chance(50);
          b.Ipv6Fragment(later ? static_cast<uint16_t>(8 * (1 + Pick(1000))) : 0,
                         later ? Chance(50) : true, static_cast<uint32_t>(Pick(1 << 30)));
          l4_off += 8;
        } else {
          // Now and then long enough to push L4 past the parser's offset bound.
          const auto len8 = static_cast<uint8_t>(Chance(95) ? Pick(4) : 8 + Pick(60));
          b.Ipv6Ext(type, len8);
          layout->ext_offs.push_back(l4_off);
          l4_off += 8 * (len8 + 1);
        }
      }
    }
  }
  layout->l4_off = l4_off;

  static const uint16_t kPorts[] = {80, 443, 53, 22, 8080, 40000, 0, 65535};
  auto port = [&] { return Chance(70) ? kPorts[Pick(8)] : static_cast<uint16_t>(Pick(65536)); };
  const int l4_roll = Pick(100);
  if (l4_roll < 35) {
    b.Tcp(port(), port(), static_cast<uint8_t>(Pick(256)), static_cast<uint32_t>(Pick(1 << 30)),
          static_cast<uint32_t>(Pick(1 << 30)));
    layout->proto = 6;
    r += " tcp";
  } else if (l4_roll < 65) {
    b.Udp(port(), port());
    layout->proto = 17;
    r += " udp";
  } else if (l4_roll < 85) {
    static const uint8_t kV4[] = {0, 3, 8, 11, 5};
    static const uint8_t kV6[] = {128, 129, 1, 3, 135};
    const auto type = static_cast<uint8_t>(Chance(80) ? (v6 ? kV6 : kV4)[Pick(5)] : Pick(256));
    b.Icmp(type, static_cast<uint8_t>(Pick(4)), static_cast<uint16_t>(Pick(4)), 1);
    layout->proto = v6 ? 58 : 1;
    r += " icmp" + std::to_string(type);
  } else {
    static const uint8_t kProtos[] = {47, 50, 51, 132, 59, 255};
    const auto proto = static_cast<uint8_t>(Chance(70) ? kProtos[Pick(6)] : Pick(256));
    b.Proto(proto);
    layout->proto = proto;
    r += " proto" + std::to_string(proto);
  }
  b.Payload(PayloadSize(), static_cast<uint8_t>(Pick(256)));
  f.bytes = b.Build();
  r += " " + std::to_string(f.bytes.size()) + "B";
  return f;
}

void FrameTorture::Mutate(TortureFrame& f, const Layout& layout) {
  f.mutated = true;
  const int n = 1 + Pick(3);
  for (int i = 0; i < n; ++i) {
    const int kind = Pick(100);
    if (kind < 45)
      FlipBits(f);
    else if (kind < 75)
      BogusLength(f, layout);
    else
      Truncate(f, layout);
  }
}

void FrameTorture::FlipBits(TortureFrame& f) {
  const int flips = 1 + Pick(8);
  // Mostly in the headers, where a flip changes what a parser decides.
  const size_t hot = std::min<size_t>(f.bytes.size(), 128);
  for (int i = 0; i < flips; ++i) {
    const size_t at =
        Chance(80) ? Pick(static_cast<int>(hot)) : Pick(static_cast<int>(f.bytes.size()));
    const int bit = Pick(8);
    f.bytes[at] ^= static_cast<uint8_t>(1 << bit);
    f.recipe += "; flip@" + std::to_string(at) + "." + std::to_string(bit);
  }
}

void FrameTorture::Truncate(TortureFrame& f, const Layout& layout) {
  // Frames shorter than an Ethernet header never reach XDP.
  if (f.bytes.size() <= 14) return;
  size_t hi = f.bytes.size() - 1;
  if (Chance(70) && layout.l4_off) hi = std::min(hi, layout.l4_off + 24);
  if (hi < 14) hi = 14;
  const size_t len = 14 + Pick(static_cast<int>(hi - 14 + 1));
  f.bytes.resize(len);
  f.recipe += "; trunc " + std::to_string(len);
}

void FrameTorture::BogusLength(TortureFrame& f, const Layout& layout) {
  Bytes& b = f.bytes;
  const size_t l3 = layout.l3_off, l4 = layout.l4_off;
  std::vector<int> fields;  // what this frame has room for
  if (layout.family == 4 && b.size() >= l3 + 20) fields.insert(fields.end(), {0, 1});
  if (layout.family == 6 && b.size() >= l3 + 40) fields.push_back(2);
  if (layout.proto == 6 && b.size() >= l4 + 20) fields.push_back(3);
  if (layout.proto == 17 && b.size() >= l4 + 8) fields.push_back(4);
  for (size_t off : layout.ext_offs)
    if (b.size() >= off + 2) fields.push_back(5);
  if (fields.empty()) return FlipBits(f);
  switch (fields[Pick(static_cast<int>(fields.size()))]) {
    case 0: {
      const int ihl = Pick(16);
      b[l3] = static_cast<uint8_t>((b[l3] & 0xf0) | ihl);
      f.recipe += "; ihl=" + std::to_string(ihl);
      break;
    }
    case 1: {
      const uint16_t v = RandomLength16();
      Put16(b, l3 + 2, v);
      f.recipe += "; tot_len=" + std::to_string(v);
      break;
    }
    case 2: {
      const uint16_t v = RandomLength16();
      Put16(b, l3 + 4, v);
      f.recipe += "; payload_len=" + std::to_string(v);
      break;
    }
    case 3: {
      const int doff = Pick(16);
      b[l4 + 12] = static_cast<uint8_t>((doff << 4) | (b[l4 + 12] & 0x0f));
      f.recipe += "; doff=" + std::to_string(doff);
      break;
    }
    case 4: {
      const uint16_t v = RandomLength16();
      Put16(b, l4 + 4, v);
      f.recipe += "; udp_len=" + std::to_string(v);
      break;
    }
    case 5: {
      const size_t off = layout.ext_offs[Pick(static_cast<int>(layout.ext_offs.size()))];
      b[off + 1] = static_cast<uint8_t>(Pick(256));
      f.recipe += "; ext@" + std::to_string(off) + " hdrlen=" + std::to_string(b[off + 1]);
      break;
    }
  }
}

}  // namespace sfc::test
