// Packet torture: random, truncated and mutated frames (tests/support/
// frame_torture.h) through every program of a chain with BPF_PROG_TEST_RUN.
// Every run must end in a valid XDP action, never XDP_ABORTED, and:
//   - entry: the verdict the documented parse policy gives (docs/
//     architecture.md: non-IP to the kernel, truncated or inconsistent IP
//     dropped as malformed), and what it records for the VNFs;
//   - egress pass/tx/redirect/fib: the frame leaves as the action says
//     (untouched, MACs swapped, TTL/hop limit down by one with a valid IPv4
//     checksum);
//   - eFW: the verdict of the reference model (tests/unit/efw_model.h);
//   - eFM, eLB: frames that came in with valid checksums leave with valid
//     checksums, and every frame is counted exactly once.
//
// SFC_TORTURE_FRAMES (default 100,000) frames per program, from
// SFC_TORTURE_SEED (default 1). `make stress` runs the long form.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <net/if.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/failpoint.h"
#ifdef SFC_TEST_DPI
#include "dpi/dpi.h"
#endif
#include "efm/efm.h"
#include "efw/maps.h"
#include "efw_model.h"
#include "support/chain_fixture.h"
#include "support/frame_torture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

uint64_t Frames() { return EnvOr("SFC_TORTURE_FRAMES", 100000); }

// Each program gets its own stream of frames from the one seed.
uint64_t SeedFor(const char* program) {
  const uint64_t seed = EnvOr("SFC_TORTURE_SEED", 1);
  std::cout << "[ torture  ] " << program << ": SFC_TORTURE_SEED=" << seed
            << " SFC_TORTURE_FRAMES=" << Frames() << std::endl;
  return seed * 0x9e3779b97f4a7c15ull ^ std::hash<std::string>{}(program);
}

uint16_t Get16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}

// The chain entry's parse policy, restated from docs/architecture.md and the
// limits it names: two VLAN tags, IPv4 with options, IPv6 with up to six
// extension headers (L4 within the first 512 bytes), TCP/UDP/ICMP headers
// complete; non-first fragments carry no L4 header.
struct Parsed {
  enum Kind { kOk, kNotIp, kMalformed } kind = kMalformed;
  int family = 0;
  size_t l3_off = 0, l4_off = 0;
  uint8_t proto = 0, ttl = 0, tcp_flags = 0, icmp_type = 0;
  bool vlan = false, frag_later = false, has_l4 = false;
  uint16_t sport = 0, dport = 0;  // host order
  uint8_t saddr[16] = {}, daddr[16] = {};
};

bool IsIpv6Ext(uint8_t h) { return h == 0 || h == 43 || h == 60 || h == 44 || h == 51; }

constexpr size_t kMaxL4Off = 512;

Parsed::Kind ParseL4(const Bytes& f, Parsed& p) {
  const size_t off = p.l4_off;
  if (off > kMaxL4Off) return Parsed::kMalformed;
  switch (p.proto) {
    case 6:
      if (f.size() < off + 20 || (f[off + 12] >> 4) < 5) return Parsed::kMalformed;
      p.tcp_flags = f[off + 13];
      break;
    case 17:
      if (f.size() < off + 8) return Parsed::kMalformed;
      break;
    case 1:
    case 58:
      if (f.size() < off + 8) return Parsed::kMalformed;
      p.icmp_type = f[off];
      p.sport = Get16(f, off + 4);
      p.has_l4 = true;
      return Parsed::kOk;
    default:
      return Parsed::kOk;
  }
  p.sport = Get16(f, off);
  p.dport = Get16(f, off + 2);
  p.has_l4 = true;
  return Parsed::kOk;
}

Parsed::Kind ParseIpv4(const Bytes& f, Parsed& p) {
  const size_t off = p.l3_off;
  if (f.size() < off + 20 || (f[off] >> 4) != 4 || (f[off] & 0xf) < 5) return Parsed::kMalformed;
  const size_t hlen = (f[off] & 0xf) * 4;
  if (f.size() < off + hlen) return Parsed::kMalformed;
  p.family = 4;
  p.proto = f[off + 9];
  p.ttl = f[off + 8];
  std::memcpy(p.saddr, &f[off + 12], 4);
  std::memcpy(p.daddr, &f[off + 16], 4);
  p.l4_off = off + hlen;
  if (Get16(f, off + 6) & 0x1fff) {
    p.frag_later = true;
    return Parsed::kOk;
  }
  return ParseL4(f, p);
}

Parsed::Kind ParseIpv6(const Bytes& f, Parsed& p) {
  size_t off = p.l3_off;
  if (f.size() < off + 40 || (f[off] >> 4) != 6) return Parsed::kMalformed;
  p.family = 6;
  p.ttl = f[off + 7];
  std::memcpy(p.saddr, &f[off + 8], 16);
  std::memcpy(p.daddr, &f[off + 24], 16);
  uint8_t next = f[off + 6];
  off += 40;
  for (int i = 0; i < 6 && IsIpv6Ext(next); ++i) {
    if (off > kMaxL4Off) return Parsed::kMalformed;
    if (next == 44) {
      if (f.size() < off + 8) return Parsed::kMalformed;
      const bool later = Get16(f, off + 2) & 0xfff8;
      next = f[off];
      off += 8;
      if (later) {
        p.frag_later = true;
        p.proto = next;
        p.l4_off = off;
        return Parsed::kOk;
      }
      continue;
    }
    if (f.size() < off + 2) return Parsed::kMalformed;
    const size_t len = next == 51 ? (f[off + 1] + 2) * 4 : (f[off + 1] + 1) * 8;
    next = f[off];
    off += len;
  }
  if (IsIpv6Ext(next)) return Parsed::kMalformed;
  p.proto = next;
  p.l4_off = off;
  return ParseL4(f, p);
}

Parsed ModelParse(const Bytes& f) {
  Parsed p;
  if (f.size() < 14) return p;
  uint16_t type = Get16(f, 12);
  size_t off = 14;
  for (int i = 0; i < 2 && (type == 0x8100 || type == 0x88a8); ++i) {
    if (f.size() < off + 4) return p;
    p.vlan = true;
    type = Get16(f, off + 2);
    off += 4;
  }
  p.l3_off = off;
  if (type == 0x0800)
    p.kind = ParseIpv4(f, p);
  else if (type == 0x86dd)
    p.kind = ParseIpv6(f, p);
  else if (type == 0x8100 || type == 0x88a8)
    p.kind = Parsed::kMalformed;  // a third tag
  else
    p.kind = Parsed::kNotIp;
  return p;
}

// The checksums a frame carries, where CheckFrame() can tell.
struct Csums {
  bool known = false, l3 = false, l4 = false;
};
Csums CsumsOf(const Bytes& f) {
  FrameInfo fi = CheckFrame(f);
  return {fi.ok, fi.l3_csum_ok, fi.l4_csum_ok};
}

// A program may rewrite a frame, but one that came in with valid checksums
// must leave with valid checksums.
void ExpectCsumsKept(const Bytes& in, const Bytes& out, const std::string& what) {
  const Csums before = CsumsOf(in);
  if (!before.known) return;
  const Csums after = CsumsOf(out);
  if (before.l3) {
    EXPECT_TRUE(after.known && after.l3) << "IPv4 header checksum broken: " << what;
  }
  if (before.l4) {
    EXPECT_TRUE(after.known && after.l4) << "L4 checksum broken: " << what;
  }
}

// Counts of the parse outcomes, to hold the chain counters against.
struct ParseCounts {
  uint64_t ok = 0, not_ip = 0, malformed = 0;
  void Add(const Parsed& p) {
    (p.kind == Parsed::kOk ? ok : p.kind == Parsed::kNotIp ? not_ip : malformed)++;
  }
};

// One torture run: frames through a loaded chain's entry.
class Torture {
 public:
  Torture(LoadedChain& chain, const char* program) : chain_(chain), torture_(SeedFor(program)) {
    ProbeLinearSize();
  }

  FrameTorture& frames() { return torture_; }
  const ParseCounts& counts() const { return counts_; }
  size_t linear() const { return linear_; }

  // What the entry makes of `f`, counted. The program sees only the frame's
  // first buffer (the kernel puts the rest of a jumbo frame in fragments).
  Parsed Model(const TortureFrame& f) {
    const Parsed p = f.bytes.size() <= linear_
                         ? ModelParse(f.bytes)
                         : ModelParse(Bytes(f.bytes.begin(), f.bytes.begin() + linear_));
    counts_.Add(p);
    return p;
  }

  // Runs `f`; false if the kernel refused it. The programs are not
  // multi-buffer: older kernels refuse a test frame beyond one buffer, newer
  // ones run the program on the first buffer (see Model()).
  bool Run(const TortureFrame& f, XdpRun* out, uint32_t ifindex = 1) {
    auto run = chain_.Run(f.bytes, ifindex);
    if (!run.ok()) {
      EXPECT_GT(f.bytes.size(), kSingleBufferFloor) << run.status().ToString() << ": " << f.recipe;
      EXPECT_NE(run.status().message().find("errno 22"), std::string::npos)
          << run.status().ToString();
      ++refused_;
      return false;
    }
    EXPECT_NE(run->action, XDP_ABORTED) << f.recipe;
    EXPECT_TRUE(run->action == XDP_DROP || run->action == XDP_PASS || run->action == XDP_TX ||
                run->action == XDP_REDIRECT)
        << "action " << run->action << ": " << f.recipe;
    *out = std::move(run).value();
    ++ran_;
    return true;
  }

  uint64_t ran() const { return ran_; }
  void Report() const {
    std::cout << "[ torture  ] " << ran_ << " frames run, " << refused_
              << " refused by the kernel as larger than a single XDP buffer" << std::endl;
  }

  uint64_t ChainCounter(const char* name) {
    auto v = chain_.ChainCounter(name);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : ~0ull;
  }
  uint64_t VnfCounter(const char* vnf, const char* name) {
    auto v = chain_.VnfCounter(vnf, name);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : ~0ull;
  }

 private:
  // Below this every frame fits one XDP buffer on a 4 KiB-page kernel.
  static constexpr size_t kSingleBufferFloor = 3000;

  // A jumbo non-IP frame: how much of it the programs see (the entry
  // records data_end - data).
  void ProbeLinearSize() {
    TortureFrame probe{PacketBuilder().EtherType(0x88b5).Payload(9000 - 14).Build(), "probe"};
    XdpRun run;
    if (!Run(probe, &run)) return;
    counts_.not_ip++;
    auto pkt = chain_.LastPacket();
    ASSERT_TRUE(pkt.ok()) << pkt.status().ToString();
    linear_ = pkt->pkt_len;
    std::cout << "[ torture  ] programs see the first " << linear_ << " bytes of a 9000-byte frame"
              << std::endl;
  }

  LoadedChain& chain_;
  FrameTorture torture_;
  ParseCounts counts_;
  size_t linear_ = SIZE_MAX;
  uint64_t ran_ = 0, refused_ = 0;
};

// The action of a chain whose VNFs all accept, by what the entry makes of the frame.
int ChainAction(const Parsed& p, int egress_action) {
  switch (p.kind) {
    case Parsed::kOk:
      return egress_action;
    case Parsed::kNotIp:
      return XDP_PASS;
    case Parsed::kMalformed:
      break;
  }
  return XDP_DROP;
}

std::unique_ptr<LoadedChain> MustLoad(const std::string& spec) {
  auto c = LoadedChain::Load(spec);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

std::string NoopChain(const std::string& egress) {
  return R"({"name": "tort", "interfaces": ["lo"], "vnfs": [{"name": "n", "type": "noop"}],
             "egress": )" +
         egress + "}";
}

void ExpectChainCounters(Torture& t, const char* vnf) {
  const ParseCounts& want = t.counts();
  EXPECT_EQ(t.ChainCounter("rx_packets"), t.ran());
  EXPECT_EQ(t.ChainCounter("non_ip"), want.not_ip);
  EXPECT_EQ(t.ChainCounter("malformed"), want.malformed);
  EXPECT_EQ(t.ChainCounter("tail_call_miss"), 0u);
  EXPECT_EQ(t.VnfCounter(vnf, "rx_packets"), want.ok);
  // Every frame that reached the VNF left it exactly one way.
  EXPECT_EQ(t.VnfCounter(vnf, "pass") + t.VnfCounter(vnf, "drop") + t.VnfCounter(vnf, "tx") +
                t.VnfCounter(vnf, "redirect") + t.VnfCounter(vnf, "aborted"),
            want.ok);
  EXPECT_EQ(t.VnfCounter(vnf, "aborted"), 0u);
}

// Entry + noop + egress pass: the parse policy, verdict by verdict, and what
// the entry recorded for the VNFs.
TEST(Torture, EntryFollowsParsePolicy) {
  auto chain = MustLoad(NoopChain(R"({"action": "pass"})"));
  ASSERT_TRUE(chain);
  Torture t(*chain, "entry");
  for (uint64_t i = 0; i < Frames() && !testing::Test::HasFailure(); ++i) {
    TortureFrame f = t.frames().Next();
    XdpRun run;
    if (!t.Run(f, &run)) continue;
    const Parsed want = t.Model(f);
    ASSERT_EQ(run.action, ChainAction(want, XDP_PASS))
        << "frame " << i << " parse " << want.kind << ": " << f.recipe;
    ASSERT_EQ(run.out, f.bytes) << "frame " << i << ": " << f.recipe;
    if (want.kind != Parsed::kOk || i % 8) continue;  // the context read costs syscalls
    auto got = chain->LastPacket();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    const std::string what = "frame " + std::to_string(i) + ": " + f.recipe;
    EXPECT_EQ(got->l3_off, want.l3_off) << what;
    EXPECT_EQ(got->l3_proto, want.family == 4 ? 0x0800 : 0x86dd) << what;
    EXPECT_EQ(got->l4_proto, want.proto) << what;
    EXPECT_EQ(got->ttl, want.ttl) << what;
    EXPECT_EQ(got->pkt_len, std::min(f.bytes.size(), t.linear())) << what;
    EXPECT_EQ(!!(got->flags & SFC_PKT_F_FRAG_LATER), want.frag_later) << what;
    EXPECT_EQ(!!(got->flags & SFC_PKT_F_VLAN), want.vlan) << what;
    EXPECT_EQ(!!(got->flags & SFC_PKT_F_L4), want.has_l4) << what;
    EXPECT_EQ(std::memcmp(got->saddr, want.saddr, 16), 0) << what;
    EXPECT_EQ(std::memcmp(got->daddr, want.daddr, 16), 0) << what;
    if (want.has_l4) {
      EXPECT_EQ(got->l4_off, want.l4_off) << what;
      EXPECT_EQ(ntohs(got->sport), want.sport) << what;
      EXPECT_EQ(ntohs(got->dport), want.dport) << what;
      if (want.proto == 6) {
        EXPECT_EQ(got->tcp_flags, want.tcp_flags) << what;
      }
      if (want.proto == 1 || want.proto == 58) {
        EXPECT_EQ(got->icmp_type, want.icmp_type) << what;
      }
    }
  }
  t.Report();
  ExpectChainCounters(t, "n");
  EXPECT_EQ(t.ChainCounter("egress_pass"), t.counts().ok);
  // The generator must reach every outcome, or the test proves little.
  EXPECT_GT(t.counts().ok, t.ran() / 5);
  EXPECT_GT(t.counts().malformed, t.ran() / 20);
  EXPECT_GT(t.counts().not_ip, 0u);
}

// Egress tx and redirect: the verdict, and the frame as the action leaves it.
void RunSimpleEgress(const char* egress, const char* program, int action, const char* counter) {
  auto chain = MustLoad(NoopChain(egress));
  ASSERT_TRUE(chain);
  Torture t(*chain, program);
  for (uint64_t i = 0; i < Frames() && !testing::Test::HasFailure(); ++i) {
    TortureFrame f = t.frames().Next();
    XdpRun run;
    if (!t.Run(f, &run)) continue;
    const Parsed want = t.Model(f);
    ASSERT_EQ(run.action, ChainAction(want, action)) << "frame " << i << ": " << f.recipe;
    Bytes expect = f.bytes;
    if (run.action == XDP_TX)
      std::swap_ranges(expect.begin(), expect.begin() + 6, expect.begin() + 6);
    ASSERT_EQ(run.out, expect) << "frame " << i << ": " << f.recipe;
  }
  t.Report();
  ExpectChainCounters(t, "n");
  EXPECT_EQ(t.ChainCounter(counter), t.counts().ok);
}

TEST(Torture, EgressTxSwapsMacsOnly) {
  RunSimpleEgress(R"({"action": "tx"})", "egress-tx", XDP_TX, "egress_tx");
}

TEST(Torture, EgressRedirectLeavesFrameAlone) {
  RunSimpleEgress(R"({"action": "redirect", "port": "lo"})", "egress-redirect", XDP_REDIRECT,
                  "egress_redirect");
}

// eFW against the reference model: random rule sets (without connection-state
// conditions, so the verdict is the model's first match alone) and the
// frames' parsed fields as the model's packet.
efw::model::Packet ModelPacket(const Parsed& p) {
  efw::model::Packet m;
  m.family = p.family;
  std::memcpy(m.saddr, p.saddr, 16);
  std::memcpy(m.daddr, p.daddr, 16);
  m.proto = p.proto;
  m.frag_later = p.frag_later;
  if (p.has_l4 && (p.proto == 6 || p.proto == 17)) {
    m.sport = p.sport;
    m.dport = p.dport;
  }
  if (p.has_l4 && p.proto == 6) m.tcp_flags = p.tcp_flags;
  if (p.has_l4 && (p.proto == 1 || p.proto == 58)) m.icmp_type = p.icmp_type;
  m.ifindex = 1;
  return m;
}

TEST(Torture, EfwAgreesWithModel) {
  auto chain = MustLoad(R"({"name": "tortfw", "interfaces": ["lo"], "vnfs": [{"name": "fw",
      "type": "firewall", "config": {"max_rules": 4096}}], "egress": {"action": "pass"}})");
  ASSERT_TRUE(chain);
  std::string dir = chain->PinPath("fw", "x");
  dir.resize(dir.size() - 2);
  auto tables = efw::FirewallTables::FromPins(dir);
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  auto ifindex_of = [](const std::string& name) { return name == "lo" ? 1u : 0u; };

  Torture t(*chain, "efw");
  // Addresses from the model generator's pools, so rules match often.
  std::vector<std::string> v4, v6;
  for (int h = 0; h < 10; ++h) {
    v4.push_back("10.0." + std::to_string(h % 5) + "." + std::to_string(h));
    v6.push_back("fd00::" + std::to_string(h % 5) + "0" + std::to_string(h));
  }
  t.frames().SetAddresses(v4, v6);
  efw::model::Generator gen(static_cast<uint32_t>(SeedFor("efw-rules")));

  uint64_t allowed = 0, dropped = 0, rejected = 0;
  const uint64_t kFramesPerRuleSet = 20000;
  for (uint64_t done = 0; done < Frames() && !testing::Test::HasFailure();) {
    auto rules = gen.RandomRules(1 + gen.Pick(150));
    for (auto& r : rules) r.states = 0;  // no state: the model needs no conntrack
    const efw::Action def = gen.Chance(50) ? efw::Action::kAllow : efw::Action::kDrop;
    auto installed = tables->Install(rules, def);
    // A set needing more tables than the data plane has is refused: draw another.
    if (!installed.ok() && installed.status().code() == Code::kInvalidArgument) continue;
    ASSERT_TRUE(installed.ok()) << installed.status().ToString();
    auto before = tables->Counters(rules);
    ASSERT_TRUE(before.ok()) << before.status().ToString();
    std::vector<uint64_t> want_counts(rules.size());

    for (uint64_t i = 0; i < kFramesPerRuleSet && done < Frames(); ++i, ++done) {
      TortureFrame f = t.frames().Next();
      XdpRun run;
      if (!t.Run(f, &run)) continue;
      const Parsed p = t.Model(f);
      if (p.kind != Parsed::kOk) {
        ASSERT_EQ(run.action, ChainAction(p, XDP_PASS)) << f.recipe;
        continue;
      }
      const int idx = efw::model::FirstMatch(rules, ModelPacket(p), ifindex_of);
      const efw::Action action = idx >= 0 ? rules[idx].action : def;
      if (idx >= 0) want_counts[idx]++;
      const std::string what = "frame " + std::to_string(done) + " rule " +
                               (idx >= 0 ? rules[idx].ToJson().dump() : "default") + ": " +
                               f.recipe;
      switch (action) {
        case efw::Action::kAllow:
          ASSERT_EQ(run.action, XDP_PASS) << what;
          ASSERT_EQ(run.out, f.bytes) << what;
          ++allowed;
          break;
        case efw::Action::kDrop:
          ASSERT_EQ(run.action, XDP_DROP) << what;
          ++dropped;
          break;
        case efw::Action::kReject: {
          // A reply when one can be built (not to a RST, an ICMP error or a
          // later fragment), else a drop; a reply is always well formed.
          ASSERT_TRUE(run.action == XDP_TX || run.action == XDP_DROP) << what;
          if (run.action == XDP_TX) {
            FrameInfo fi = CheckFrame(run.out);
            ASSERT_TRUE(fi.ok) << fi.error << ": " << what;
            ASSERT_TRUE(fi.l3_csum_ok && fi.l4_csum_ok) << what;
            ++rejected;
          }
          break;
        }
      }
    }
    auto after = tables->Counters(rules);
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    for (size_t r = 0; r < rules.size(); ++r)
      ASSERT_EQ((*after)[r].packets - (*before)[r].packets, want_counts[r]) << rules[r].id;
  }
  t.Report();
  ExpectChainCounters(t, "fw");
  EXPECT_GT(allowed, t.counts().ok / 10);
  EXPECT_GT(dropped, t.counts().ok / 10);
  EXPECT_GT(rejected, 0u);
}

// eFM: every frame that reaches it is in exactly one flow's packet count, or
// counted as an insert failure. The table is drained every batch, so it never
// fills and evicts.
TEST(Torture, EfmCountsEveryFrameOnce) {
  auto chain = MustLoad(R"({"name": "tortfm", "interfaces": ["lo"], "vnfs": [{"name": "mon",
      "type": "flowmon", "config": {"max_flows": 262144, "idle_timeout_s": 3600,
      "active_timeout_s": 7200, "scan_interval_ms": 60000}}], "egress": {"action": "pass"}})");
  ASSERT_TRUE(chain);
  auto flows = chain->OpenMap("mon", "flows");
  ASSERT_TRUE(flows.ok()) << flows.status().ToString();
  Torture t(*chain, "efm");
  uint64_t in_flows = 0;
  auto drain = [&] {
    efm_flow_key key{}, next{};
    efm_flow value{};
    const void* prev = nullptr;
    std::vector<efm_flow_key> keys;
    while (bpf_map_get_next_key(flows->get(), prev, &next) == 0) {
      keys.push_back(key = next);
      prev = &key;
    }
    for (const auto& k : keys) {
      ASSERT_EQ(bpf_map_lookup_elem(flows->get(), &k, &value), 0);
      in_flows += value.packets;
      ASSERT_EQ(bpf_map_delete_elem(flows->get(), &k), 0);
    }
  };
  for (uint64_t i = 0; i < Frames() && !testing::Test::HasFailure(); ++i) {
    TortureFrame f = t.frames().Next();
    XdpRun run;
    if (!t.Run(f, &run)) continue;
    const Parsed p = t.Model(f);
    ASSERT_EQ(run.action, ChainAction(p, XDP_PASS)) << f.recipe;
    ASSERT_EQ(run.out, f.bytes) << f.recipe;
    if (i % 50000 == 49999) drain();
  }
  drain();
  t.Report();
  ExpectChainCounters(t, "mon");
  EXPECT_EQ(in_flows + t.VnfCounter("mon", "flow_insert_fail"), t.counts().ok);
  EXPECT_EQ(t.VnfCounter("mon", "ipv4_packets") + t.VnfCounter("mon", "ipv6_packets"),
            t.counts().ok);
}

#ifdef SFC_TEST_DPI
// dpi, its classifier off (nobody reads the ring buffer, so it fills and
// every later copy is a ring-full give-up): every frame goes on unchanged,
// and each one is either in exactly one flow's packet count, not inspected
// (not TCP/UDP, later fragment) or an insert failure.
TEST(Torture, DpiPassesEveryFrameAndCountsItOnce) {
  failpoint::Arm("dpi.classifier_start", failpoint::Action::kError);
  auto chain = MustLoad(R"({"name": "tortdpi", "interfaces": ["lo"], "vnfs": [{"name": "dpi",
      "type": "dpi", "config": {"max_flows": 262144, "ring_bytes": 65536}}],
      "egress": {"action": "pass"}})");
  failpoint::DisarmAll();
  ASSERT_TRUE(chain);
  auto flows = chain->OpenMap("dpi", "flows");
  ASSERT_TRUE(flows.ok()) << flows.status().ToString();
  Torture t(*chain, "dpi");
  uint64_t in_flows = 0;
  auto drain = [&] {
    dpi_flow_key key{}, next{};
    dpi_flow value{};
    const void* prev = nullptr;
    std::vector<dpi_flow_key> keys;
    while (bpf_map_get_next_key(flows->get(), prev, &next) == 0) {
      keys.push_back(key = next);
      prev = &key;
    }
    for (const auto& k : keys) {
      ASSERT_EQ(bpf_map_lookup_elem(flows->get(), &k, &value), 0);
      in_flows += value.packets;
      ASSERT_EQ(bpf_map_delete_elem(flows->get(), &k), 0);
    }
  };
  for (uint64_t i = 0; i < Frames() && !testing::Test::HasFailure(); ++i) {
    TortureFrame f = t.frames().Next();
    XdpRun run;
    if (!t.Run(f, &run)) continue;
    const Parsed p = t.Model(f);
    ASSERT_EQ(run.action, ChainAction(p, XDP_PASS)) << f.recipe;
    ASSERT_EQ(run.out, f.bytes) << f.recipe;
    if (i % 50000 == 49999) drain();
  }
  drain();
  t.Report();
  ExpectChainCounters(t, "dpi");
  EXPECT_EQ(
      in_flows + t.VnfCounter("dpi", "dpi_not_inspected") + t.VnfCounter("dpi", "dpi_insert_fail"),
      t.counts().ok);
  EXPECT_GT(t.VnfCounter("dpi", "dpi_fed"), 0u);
  EXPECT_GT(t.VnfCounter("dpi", "dpi_ring_full"), 0u);
  EXPECT_EQ(t.VnfCounter("dpi", "dpi_ring_full"), t.VnfCounter("dpi", "dpi_gave_up_ring"));
}
#endif  // SFC_TEST_DPI

// eLB with an IPv4 TCP and an IPv6 UDP service: frames to the VIPs are
// rewritten, replies from the backends translated back, ICMP errors about
// them too; whatever it does, checksums that were valid stay valid.
TEST(Torture, ElbKeepsChecksumsAndCounts) {
  using nlohmann::json;
  json lb = {
      {"max_connections", 262144},
      {"services",
       {{{"name", "web"},
         {"vip", "10.0.0.100"},
         {"proto", "tcp"},
         {"port", 80},
         {"backends",
          {{{"address", "10.0.1.1"}, {"port", 8080}}, {{"address", "10.0.1.2"}, {"port", 8080}}}}},
        {{"name", "dns"},
         {"vip", "fd00::100"},
         {"proto", "udp"},
         {"port", 53},
         {"backends",
          {{{"address", "fd00:1::1"}, {"port", 53}}, {{"address", "fd00:1::2"}, {"port", 53}}}}}}}};
  json spec = {{"name", "tortlb"},
               {"interfaces", {"lo"}},
               {"vnfs", {{{"name", "lb"}, {"type", "loadbalancer"}, {"config", lb}}}},
               {"egress", {{"action", "pass"}}}};
  auto chain = MustLoad(spec.dump());
  ASSERT_TRUE(chain);
  Torture t(*chain, "elb");
  t.frames().SetAddresses(
      {"10.0.0.1", "10.0.0.2", "10.0.0.100", "10.0.0.100", "10.0.1.1", "10.0.1.2"},
      {"fd00::1", "fd00::2", "fd00::100", "fd00::100", "fd00:1::1", "fd00:1::2"});
  uint64_t rewritten = 0;
  for (uint64_t i = 0; i < Frames() && !testing::Test::HasFailure(); ++i) {
    TortureFrame f = t.frames().Next();
    XdpRun run;
    if (!t.Run(f, &run)) continue;
    const Parsed p = t.Model(f);
    if (p.kind != Parsed::kOk) {
      ASSERT_EQ(run.action, ChainAction(p, XDP_PASS)) << f.recipe;
      continue;
    }
    if (run.action == XDP_DROP) continue;
    ExpectCsumsKept(f.bytes, run.out, "frame " + std::to_string(i) + ": " + f.recipe);
    ASSERT_FALSE(testing::Test::HasFailure());
    rewritten += run.out != f.bytes;
  }
  t.Report();
  ExpectChainCounters(t, "lb");
  EXPECT_EQ(t.ChainCounter("egress_pass"), t.VnfCounter("lb", "pass"));
  EXPECT_GT(rewritten, 0u);
}

// Egress fib in the routed network of EnterRoutedTestNetwork(): 10.9.2.2 and
// fd00:9:2::2 have a neighbour, 10.9.2.3 none, 10.9.3.0/24 is unreachable,
// 10.9.2.1 is local.
TEST(Torture, EgressFibDecrementsTtlAndKeepsChecksum) {
  ASSERT_TRUE(EnterRoutedTestNetwork());
  const uint32_t in = if_nametoindex("in0");
  ASSERT_NE(in, 0u);
  auto chain = MustLoad(NoopChain(R"({"action": "fib"})"));
  ASSERT_TRUE(chain);
  Torture t(*chain, "egress-fib");
  t.frames().SetAddresses(
      {"10.9.1.2", "10.9.2.2", "10.9.2.2", "10.9.2.3", "10.9.3.7", "10.9.2.1"},
      {"fd00:9:1::2", "fd00:9:2::2", "fd00:9:2::2", "fd00:9:2::3", "fd00:9:2::1"});
  const Bytes neigh_mac = MacBytes("02:00:00:00:02:02"), out_mac = MacBytes("02:00:00:00:02:01");
  uint64_t redirected = 0;
  for (uint64_t i = 0; i < Frames() && !testing::Test::HasFailure(); ++i) {
    TortureFrame f = t.frames().Next();
    XdpRun run;
    if (!t.Run(f, &run, in)) continue;
    const Parsed p = t.Model(f);
    const std::string what = "frame " + std::to_string(i) + ": " + f.recipe;
    if (p.kind != Parsed::kOk) {
      ASSERT_EQ(run.action, ChainAction(p, XDP_PASS)) << what;
      continue;
    }
    if (run.action != XDP_REDIRECT) {
      // Passed to the kernel (tagged, TTL expiring, local, no neighbour) or
      // dropped (unreachable): untouched either way.
      ASSERT_EQ(run.out, f.bytes) << what;
      if (p.vlan || p.ttl <= 1) {
        ASSERT_EQ(run.action, XDP_PASS) << what;
      }
      continue;
    }
    ++redirected;
    ASSERT_FALSE(p.vlan) << what;
    ASSERT_GT(p.ttl, 1) << what;
    Bytes expect = f.bytes;
    std::copy(neigh_mac.begin(), neigh_mac.end(), expect.begin());
    std::copy(out_mac.begin(), out_mac.end(), expect.begin() + 6);
    const size_t ttl_at = p.l3_off + (p.family == 4 ? 8 : 7);
    expect[ttl_at]--;
    ASSERT_EQ(run.out.size(), expect.size()) << what;
    if (p.family == 4) {
      // The checksum is updated incrementally: valid stays valid.
      const size_t hlen = (f.bytes[p.l3_off] & 0xf) * 4;
      const bool valid_before = OnesSum(&f.bytes[p.l3_off], hlen) == 0xffff;
      const bool valid_after = OnesSum(&run.out[p.l3_off], hlen) == 0xffff;
      ASSERT_EQ(valid_after, valid_before) << what;
      expect[p.l3_off + 10] = run.out[p.l3_off + 10];
      expect[p.l3_off + 11] = run.out[p.l3_off + 11];
    }
    ASSERT_EQ(run.out, expect) << what;
  }
  t.Report();
  ExpectChainCounters(t, "n");
  EXPECT_EQ(t.ChainCounter("egress_redirect") + t.ChainCounter("egress_redirect_err") +
                t.ChainCounter("fib_no_neigh") + t.ChainCounter("fib_pass") +
                t.ChainCounter("fib_drop"),
            t.counts().ok);
  EXPECT_GT(redirected, t.counts().ok / 20);
}

}  // namespace
}  // namespace sfc::test
