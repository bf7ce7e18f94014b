// eFW per-packet cost against the rule count, through BPF_PROG_TEST_RUN on a
// whole loaded chain (entry -> firewall -> egress pass), next to the same
// chain with a noop VNF. Also times installing each rule set (compile + map
// writes + switch, what a ReplaceRules call costs).
//
// The rule sets mix the shapes real firewalls have: an "established,related"
// allow on top, source-network service rules (src + tcp dport), destination
// service rules (dst + udp dport), host-pair rules (src + dst) and a source
// blocklist (src /32). Packets are drawn so that about half hit a rule.
//
// usage: efw_bench [--rules 10,1000,100000,1000000] [--repeat N] [--mix mixed|blocklist] [--json]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "efw/compiler.h"
#include "efw/maps.h"
#include "support/chain_fixture.h"
#include "support/packet.h"

namespace sfc::test {
namespace {

bool g_blocklist_only = false;

struct Ruleset {
  std::vector<efw::Rule> rules;
  std::vector<Bytes> packets;
};

efw::Prefix V4Prefix(uint32_t addr, uint8_t len) {
  efw::Prefix p;
  p.family = 4;
  p.len = len;
  uint32_t masked = len ? addr & (~0u << (32 - len)) : 0;
  p.addr[0] = masked >> 24;
  p.addr[1] = masked >> 16;
  p.addr[2] = masked >> 8;
  p.addr[3] = masked;
  return p;
}

std::string V4String(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

Ruleset MakeRuleset(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Ruleset rs;
  rs.rules.reserve(n);
  efw::Rule est;
  est.id = "established";
  est.states = efw::kStateEstablished | efw::kStateRelated;
  est.action = efw::Action::kAllow;
  rs.rules.push_back(est);

  struct Hit {
    uint32_t src, dst;
    uint8_t proto;
    uint16_t dport;
  };
  std::vector<Hit> hits;
  for (size_t i = 1; i < n; ++i) {
    efw::Rule r;
    r.id = "r" + std::to_string(i);
    r.action = rng() % 2 ? efw::Action::kAllow : efw::Action::kDrop;
    // Random addresses: 10.0.0.0/8 sources, 11.0.0.0/8 destinations.
    const uint32_t src = 0x0a000000u | (rng() & 0x00ffffffu);
    const uint32_t dst = 0x0b000000u | (rng() & 0x00ffffffu);
    const uint16_t port = static_cast<uint16_t>(1 + rng() % 1024);
    // --mix blocklist: only source /32 drops (one group, one LPM lookup).
    switch (g_blocklist_only ? 9 : i % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
        r.src = V4Prefix(src, static_cast<uint8_t>(24 + rng() % 9));
        r.proto = efw::Proto::kTcp;
        r.dport = efw::PortRange{port, port};
        hits.push_back({src, dst, 6, port});
        break;
      case 6:
      case 7:
        r.dst = V4Prefix(dst, static_cast<uint8_t>(28 + rng() % 5));
        r.proto = efw::Proto::kUdp;
        r.dport = efw::PortRange{port, static_cast<uint16_t>(port + rng() % 4)};
        hits.push_back({src, dst, 17, port});
        break;
      case 8:
        r.src = V4Prefix(src, 32);
        r.dst = V4Prefix(dst, 32);
        hits.push_back({src, dst, 6, port});
        break;
      default:
        r.src = V4Prefix(src, 32);
        r.action = efw::Action::kDrop;
        hits.push_back({src, dst, 17, port});
        break;
    }
    rs.rules.push_back(std::move(r));
  }
  // 128 packets: half aimed at rules (spread over the list), half random.
  for (int i = 0; i < 128; ++i) {
    Hit h;
    if (i % 2 == 0 && !hits.empty()) {
      h = hits[(hits.size() * static_cast<size_t>(i)) / 128];
    } else {
      h = {static_cast<uint32_t>(0x0a000000u | (rng() & 0x00ffffffu)),
           static_cast<uint32_t>(0x0b000000u | (rng() & 0x00ffffffu)),
           static_cast<uint8_t>(rng() % 2 ? 6 : 17), static_cast<uint16_t>(1 + rng() % 2048)};
    }
    PacketBuilder b;
    b.Ipv4(V4String(h.src), V4String(h.dst));
    if (h.proto == 6)
      b.Tcp(static_cast<uint16_t>(1024 + rng() % 60000), h.dport, kTcpSyn);
    else
      b.Udp(static_cast<uint16_t>(1024 + rng() % 60000), h.dport);
    rs.packets.push_back(b.Payload(18).Build());
  }
  return rs;
}

// Average ns/packet over the packet set, each run `repeat` times in-kernel;
// per packet the best of 3 tries, so other load on a shared machine (which
// only ever adds time) disturbs the comparison between rule counts less.
double Measure(LoadedChain& c, const std::vector<Bytes>& packets, uint32_t repeat) {
  double total = 0;
  for (const auto& p : packets) {
    uint32_t best = ~0u;
    for (int t = 0; t < 3; ++t) {
      auto run = c.Run(p, 1, repeat);
      if (!run.ok()) {
        std::fprintf(stderr, "run: %s\n", run.status().ToString().c_str());
        std::exit(1);
      }
      best = std::min(best, run->duration_ns);
    }
    total += best;
  }
  return total / packets.size();
}

std::string ChainJson(const std::string& type, size_t max_rules) {
  std::string cfg = type == "firewall"
                        ? R"({"default": "drop", "max_rules": )" + std::to_string(max_rules) + "}"
                        : "{}";
  return R"({"name": "efwbench", "interfaces": ["lo"], "vnfs": [{"name": "v", "type": ")" + type +
         R"(", "config": )" + cfg + "}]}";
}

int Main(int argc, char** argv) {
  std::vector<size_t> sizes = {10, 1000, 100000, 1000000};
  uint32_t repeat = 2000;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rules" && i + 1 < argc) {
      sizes.clear();
      std::stringstream ss(argv[++i]);
      for (std::string t; std::getline(ss, t, ',');) sizes.push_back(std::stoul(t));
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = static_cast<uint32_t>(std::stoul(argv[++i]));
    } else if (a == "--mix" && i + 1 < argc) {
      g_blocklist_only = std::string(argv[++i]) == "blocklist";
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "usage: efw_bench [--rules 10,1000,...] [--repeat N] [--json]\n");
      return 2;
    }
  }

  double noop_ns;
  {
    auto c = LoadedChain::Load(ChainJson("noop", 0));
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
      return 1;
    }
    noop_ns = Measure(**c, MakeRuleset(10, 1).packets, repeat);
  }
  if (!json)
    std::printf("%-10s %11s %11s %11s %9s %10s %10s %9s %11s\n", "rules", "compile_ms",
                "install_ms", "replace_ms", "edit_ms", "entries", "ns/pkt", "vs_first",
                "fw_only_ns");
  double base = 0;
  for (size_t n : sizes) {
    Ruleset rs = MakeRuleset(n, 42);
    size_t max_rules = n + 1024;  // room for the edits
    auto c = LoadedChain::Load(ChainJson("firewall", max_rules));
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.status().ToString().c_str());
      return 1;
    }
    std::string dir = (*c)->PinPath("v", "x");
    dir.resize(dir.size() - 2);
    auto tables = efw::FirewallTables::FromPins(dir);
    if (!tables.ok()) {
      std::fprintf(stderr, "%s\n", tables.status().ToString().c_str());
      return 1;
    }
    // The pure part alone (rule-set compilation), then the whole install.
    auto tc = std::chrono::steady_clock::now();
    {
      std::vector<uint32_t> slots(rs.rules.size());
      efw::CompileOptions opts;
      opts.max_match_entries = 8 * max_rules + 8192;
      auto cs = efw::CompileRules(rs.rules, efw::Action::kDrop, slots, opts);
      if (!cs.ok()) std::fprintf(stderr, "compile: %s\n", cs.status().ToString().c_str());
    }
    double compile_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tc).count();
    auto t0 = std::chrono::steady_clock::now();
    auto st = tables->Install(rs.rules, efw::Action::kDrop);
    auto t1 = std::chrono::steady_clock::now();
    if (!st.ok()) {
      std::fprintf(stderr, "install %zu rules: %s\n", n, st.status().ToString().c_str());
      return 1;
    }
    // Replace: a different rule set of the same size, written into the
    // other (empty) set: all of it is new.
    Ruleset other = MakeRuleset(n, 4242);
    auto t2 = std::chrono::steady_clock::now();
    auto st2 = tables->Install(other.rules, efw::Action::kDrop);
    auto t3 = std::chrono::steady_clock::now();
    if (!st2.ok()) {
      std::fprintf(stderr, "replace %zu rules: %s\n", n, st2.status().ToString().c_str());
      return 1;
    }
    double reinstall_ms = std::chrono::duration<double, std::milli>(t3 - t2).count();
    // Edits: one rule appended at a time. In steady state the inactive set
    // holds the rules of two edits ago, so an edit writes what changed.
    std::vector<efw::Rule> edited = other.rules;
    double edit_ms = 0;
    efw::InstallStats last{};
    for (int e = 0; e < 3; ++e) {
      efw::Rule extra;
      extra.id = "edit" + std::to_string(e);
      extra.src = V4Prefix(0xc0000200u + static_cast<uint32_t>(e), 32);
      extra.action = efw::Action::kDrop;
      edited.push_back(extra);
      auto te = std::chrono::steady_clock::now();
      auto ste = tables->Install(edited, efw::Action::kDrop);
      if (!ste.ok()) {
        std::fprintf(stderr, "edit: %s\n", ste.status().ToString().c_str());
        return 1;
      }
      edit_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - te).count();
      last = *ste;
    }
    std::fprintf(stderr,
                 "  %zu rules: install: compile %.0f ms, slots %.0f ms, write %.0f ms | replace: "
                 "compile %.0f ms, "
                 "clear %.0f ms, slots %.0f ms, write %.0f ms | edit: compile %.0f ms, write %.0f "
                 "ms (%zu match, "
                 "%zu prefix writes)\n",
                 n, st->compile_ms, st->slots_ms, st->write_ms, st2->compile_ms, st2->clear_ms,
                 st2->slots_ms, st2->write_ms, last.compile_ms, last.write_ms, last.match_writes,
                 last.lpm_writes);
    rs.rules = edited;
    rs.packets = other.packets;
    // Warm-up, then measure.
    Measure(**c, rs.packets, 100);
    double ns = Measure(**c, rs.packets, repeat);
    if (base == 0) base = ns;
    double install_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    if (json)
      std::printf(
          R"({"bench": "efw", "rules": %zu, "compile_ms": %.1f, "install_ms": %.1f, "replace_ms": %.1f, "edit_ms": %.1f, "match_entries": %zu, "ns_per_packet": %.1f, "ratio_vs_first": %.3f, "noop_ns": %.1f})"
          "\n",
          n, compile_ms, install_ms, reinstall_ms, edit_ms, st->match_entries, ns, ns / base,
          noop_ns);
    else
      std::printf("%-10zu %11.1f %11.1f %11.1f %9.1f %10zu %10.1f %9.2f %11.1f\n", n, compile_ms,
                  install_ms, reinstall_ms, edit_ms, st->match_entries, ns, ns / base,
                  ns - noop_ns);
    std::fflush(stdout);
  }
  if (!json) std::printf("noop chain: %.1f ns/pkt\n", noop_ns);
  return 0;
}

}  // namespace
}  // namespace sfc::test

int main(int argc, char** argv) { return sfc::test::Main(argc, argv); }
