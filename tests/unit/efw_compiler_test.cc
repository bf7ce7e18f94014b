// The rule-set compiler against the reference model: the compiled tables are
// evaluated here exactly as bpf/efw/classifier.h looks them up (misc region,
// longest prefix, port regions, interface id, match table, groups by
// priority), and must pick the same first rule as a linear scan.
#include <gtest/gtest.h>

#include <map>

#include "efw/compiler.h"
#include "efw_model.h"

namespace sfc::efw {
namespace {

using model::Packet;

uint32_t TestIfindex(const std::string& name) { return name == "lo" ? 1 : 0; }

uint32_t ProtoSlotOf(uint8_t proto) {
  switch (proto) {
    case 6:
      return EFW_PROTO_TCP;
    case 17:
      return EFW_PROTO_UDP;
    case 1:
      return EFW_PROTO_ICMP;
    case 58:
      return EFW_PROTO_ICMPV6;
  }
  return EFW_PROTO_OTHER;
}

struct KeyCmp {
  bool operator()(const efw_match_key& a, const efw_match_key& b) const {
    return std::memcmp(&a, &b, sizeof(a)) < 0;
  }
};

// The data plane's lookups over a CompiledRuleSet.
class TableEvaluator {
 public:
  explicit TableEvaluator(const CompiledRuleSet& cs) : cs_(cs) {
    for (const auto& [k, v] : cs.matches) matches_[k] = v;
  }

  // Index of the winning rule or -1.
  int Classify(const Packet& p) const {
    uint32_t slot = ProtoSlotOf(p.proto), aux = 0;
    if (p.frag_later)
      slot += EFW_PROTO_FRAG;
    else if (slot == EFW_PROTO_TCP)
      aux = p.tcp_flags;
    else if (slot == EFW_PROTO_ICMP || slot == EFW_PROTO_ICMPV6)
      aux = p.icmp_type;
    const uint32_t mkey = efw_misc_index(slot, p.state, aux);
    uint32_t iif = 0;
    for (auto [ifindex, id] : cs_.iifs)
      if (ifindex == p.ifindex) iif = id;

    int64_t best = -1;
    for (const auto& g : cs_.groups) {
      if (best >= 0 && best < g.gmin) break;
      efw_match_key key{};
      key.gs = efw_gs(0, g.group);
      key.misc = g.misc[mkey];
      if (!key.misc) continue;
      if (g.group & EFW_G_SRC) {
        key.src = Lpm(true, efw_src_slot(g.group), p.family, p.saddr);
        if (!key.src) continue;
      }
      if (g.group & EFW_G_DST) {
        key.dst = Lpm(false, efw_dst_slot(g.group), p.family, p.daddr);
        if (!key.dst) continue;
      }
      if (g.group & (EFW_G_SPORT | EFW_G_DPORT)) {
        if (p.frag_later) continue;
        if (g.group & EFW_G_SPORT) {
          key.sport = g.sport[p.sport];
          if (!key.sport) continue;
        }
        if (g.group & EFW_G_DPORT) {
          key.dport = g.dport[p.dport];
          if (!key.dport) continue;
        }
      }
      if (g.group & EFW_G_IIF) {
        if (!iif) continue;
        key.iif = iif;
      }
      if (g.has_app()) {
        key.app = g.app[std::min<uint32_t>(p.app, EFW_APP_IDS - 1)];
        key.category = g.category[p.app_category];
        if (!key.app || !key.category) continue;
      }
      auto it = matches_.find(key);
      if (it != matches_.end() && (best < 0 || it->second.prio < best)) best = it->second.prio;
    }
    return static_cast<int>(best);
  }

 private:
  // Longest prefix of the direction's shared trie, then the group's slot.
  uint32_t Lpm(bool src, uint32_t slot, int family, const uint8_t* addr) const {
    int best_len = -1;
    uint32_t region = 0;
    for (const auto& e : cs_.lpm) {
      if (e.src != src || e.prefix.family != family) continue;
      if (e.prefix.ContainsAddr(addr) && e.prefix.len > best_len) {
        best_len = e.prefix.len;
        region = e.regions[slot];
      }
    }
    return region;
  }

  const CompiledRuleSet& cs_;
  std::map<efw_match_key, efw_match, KeyCmp> matches_;
};

CompiledRuleSet MustCompile(const std::vector<Rule>& rules, Action def = Action::kDrop) {
  std::vector<uint32_t> slots(rules.size());
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = static_cast<uint32_t>(i);
  CompileOptions opts;
  opts.resolve_iif = TestIfindex;
  auto cs = CompileRules(rules, def, slots, opts);
  EXPECT_TRUE(cs.ok()) << cs.status().ToString();
  return cs.ok() ? std::move(cs).value() : CompiledRuleSet{};
}

std::vector<Rule> ParseRules(const std::string& json_rules) {
  auto cfg = ParseFirewallConfig(nlohmann::json::parse(R"({"rules": )" + json_rules + "}"), "/c");
  EXPECT_TRUE(cfg.ok()) << cfg.status().ToString();
  return cfg.ok() ? cfg->rules : std::vector<Rule>{};
}

Packet V4(const char* s, const char* d, uint8_t proto, uint16_t sp = 0, uint16_t dp = 0) {
  Packet p;
  p.family = 4;
  auto a = ParsePrefix(s), b = ParsePrefix(d);
  std::memcpy(p.saddr, a->addr.data(), 4);
  std::memcpy(p.daddr, b->addr.data(), 4);
  p.proto = proto;
  p.sport = sp;
  p.dport = dp;
  return p;
}

TEST(EfwCompiler, GroupsAndFirstMatch) {
  auto rules = ParseRules(R"([
      {"src": "10.0.0.0/8", "proto": "tcp", "dport": 22, "action": "drop"},
      {"src": "10.1.0.0/16", "action": "allow"},
      {"proto": "tcp", "dport": "1-1024", "action": "reject"},
      {"dst": "192.168.0.0/16", "proto": "udp", "action": "allow"}])");
  auto cs = MustCompile(rules);
  EXPECT_EQ(cs.groups.size(), 4u);
  TableEvaluator ev(cs);
  EXPECT_EQ(ev.Classify(V4("10.1.2.3", "1.1.1.1", 6, 5000, 22)), 0);
  EXPECT_EQ(ev.Classify(V4("10.1.2.3", "1.1.1.1", 6, 5000, 80)), 1);
  EXPECT_EQ(ev.Classify(V4("11.1.2.3", "1.1.1.1", 6, 5000, 80)), 2);
  EXPECT_EQ(ev.Classify(V4("11.1.2.3", "192.168.1.1", 17, 5000, 80)), 3);
  EXPECT_EQ(ev.Classify(V4("11.1.2.3", "192.168.1.1", 6, 5000, 8080)), -1);
}

TEST(EfwCompiler, NestedPrefixesShareTheGroup) {
  // /8 must still win for addresses whose longest match is the /24.
  auto rules = ParseRules(R"([
      {"src": "10.0.0.0/8", "action": "drop"},
      {"src": "10.1.1.0/24", "action": "allow"}])");
  auto cs = MustCompile(rules);
  TableEvaluator ev(cs);
  EXPECT_EQ(ev.Classify(V4("10.1.1.1", "1.1.1.1", 6)), 0);
  EXPECT_EQ(ev.Classify(V4("10.2.1.1", "1.1.1.1", 6)), 0);
  // The /8 covers both regions and wins both: the /24 rule adds no entry.
  EXPECT_EQ(cs.matches.size(), 2u);
}

TEST(EfwCompiler, FragmentsMatchOnlyL3Rules) {
  auto rules = ParseRules(R"([
      {"proto": "udp", "dport": 53, "action": "allow"},
      {"proto": "udp", "state": "new", "action": "reject"},
      {"proto": "udp", "action": "drop"}])");
  auto cs = MustCompile(rules);
  TableEvaluator ev(cs);
  Packet p = V4("1.1.1.1", "2.2.2.2", 17, 1000, 53);
  EXPECT_EQ(ev.Classify(p), 0);
  p.frag_later = true;
  p.state = EFW_CT_UNTRACKED;
  EXPECT_EQ(ev.Classify(p), 2);  // no ports, no state: only the L3 rule
}

TEST(EfwCompiler, UnknownInterfaceNeverMatches) {
  auto rules = ParseRules(R"([
      {"iif": "efwnosuch0", "action": "drop"},
      {"iif": "lo", "action": "reject"}])");
  auto cs = MustCompile(rules);
  ASSERT_EQ(cs.unresolved_iifs.size(), 1u);
  EXPECT_EQ(cs.unresolved_iifs[0], "efwnosuch0");
  TableEvaluator ev(cs);
  Packet p = V4("1.1.1.1", "2.2.2.2", 6);
  p.ifindex = 1;
  EXPECT_EQ(ev.Classify(p), 1);
  p.ifindex = 2;
  EXPECT_EQ(ev.Classify(p), -1);
}

TEST(EfwCompiler, CapacityErrorNamesGroup) {
  auto rules = ParseRules(
      R"([{"src": "10.0.0.0/8", "action": "drop"}, {"src": "10.0.0.0/24", "action": "drop"},
                              {"src": "10.0.1.0/24", "action": "drop"}])");
  std::vector<uint32_t> slots = {0, 1, 2};
  CompileOptions opts;
  opts.max_match_entries = 3;
  auto cs = CompileRules(rules, Action::kDrop, slots, opts);
  ASSERT_FALSE(cs.ok());
  EXPECT_NE(cs.status().message().find("rule group src"), std::string::npos)
      << cs.status().message();
}

// 17 rule shapes that match on ports, one more than the data plane's port
// tables per set: refused rather than written over the other set's tables.
TEST(EfwCompiler, TooManyPortGroupsIsRefused) {
  std::string json = "[";
  int n = 0;
  for (int iif = 0; iif < 2; ++iif)
    for (int addr = 0; addr < 4; ++addr)
      for (const char* ports : {R"("sport": 1)", R"("dport": 2)", R"("sport": 1, "dport": 2)"}) {
        if (n == EFW_PORT_SLOTS + 1) break;
        json += std::string(n++ ? "," : "") + R"({"proto": "tcp", )" + ports +
                (addr & 1 ? R"(, "src": "10.0.0.0/8")" : "") +
                (addr & 2 ? R"(, "dst": "10.0.0.0/8")" : "") + (iif ? R"(, "iif": "lo")" : "") +
                R"(, "action": "drop"})";
      }
  auto rules = ParseRules(json + "]");
  std::vector<uint32_t> slots(rules.size());
  for (size_t i = 0; i < slots.size(); ++i) slots[i] = static_cast<uint32_t>(i);
  CompileOptions opts;
  opts.resolve_iif = [](const std::string&) { return 1u; };
  auto cs = CompileRules(rules, Action::kDrop, slots, opts);
  ASSERT_FALSE(cs.ok());
  EXPECT_NE(cs.status().message().find("groups matching on ports"), std::string::npos)
      << cs.status().message();
  rules.pop_back();
  slots.pop_back();
  EXPECT_TRUE(CompileRules(rules, Action::kDrop, slots, opts).ok());
}

TEST(EfwCompiler, MiscCoversSemantics) {
  auto rules = ParseRules(
      R"([{"proto": "tcp", "tcp_flags": "syn/syn,ack", "state": ["new"], "action": "drop"}])");
  const Rule& r = rules[0];
  EXPECT_TRUE(MiscCovers(r, EFW_PROTO_TCP, EFW_CT_NEW, 0x02));
  EXPECT_TRUE(MiscCovers(r, EFW_PROTO_TCP, EFW_CT_NEW, 0x02 | 0x08));
  EXPECT_FALSE(MiscCovers(r, EFW_PROTO_TCP, EFW_CT_NEW, 0x12));
  EXPECT_FALSE(MiscCovers(r, EFW_PROTO_TCP, EFW_CT_ESTABLISHED, 0x02));
  EXPECT_FALSE(MiscCovers(r, EFW_PROTO_UDP, EFW_CT_NEW, 0x02));
  EXPECT_FALSE(MiscCovers(r, EFW_PROTO_TCP + EFW_PROTO_FRAG, EFW_CT_UNTRACKED, 0));
}

// Random rule sets from small pools (nested prefixes, overlapping ranges,
// every field), random packets: compiled tables == linear scan.
TEST(EfwCompiler, DifferentialAgainstModel) {
  int compared = 0, matched = 0;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    model::Generator gen(seed);
    auto rules = gen.RandomRules(1 + gen.Pick(120));
    auto cs = MustCompile(rules);
    TableEvaluator ev(cs);
    for (int i = 0; i < 2500; ++i) {
      Packet p = gen.RandomPacket();
      int want = model::FirstMatch(rules, p, TestIfindex);
      int got = ev.Classify(p);
      ASSERT_EQ(got, want) << "seed " << seed << " packet " << i << " rule "
                           << (want >= 0 ? rules[want].ToJson().dump() : "none") << " got "
                           << (got >= 0 ? rules[got].ToJson().dump() : "none");
      ++compared;
      matched += want >= 0;
    }
  }
  EXPECT_EQ(compared, 100000);
  EXPECT_GT(matched, compared / 4);  // the pools make rules hit, not just the default
}

// The same with rules on app and app_category, packets labelled by a dpi VNF.
TEST(EfwCompiler, DifferentialWithApps) {
  int compared = 0, matched_app = 0;
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    model::Generator gen(seed, /*with_apps=*/true);
    auto rules = gen.RandomRules(1 + gen.Pick(120));
    auto cs = MustCompile(rules);
    TableEvaluator ev(cs);
    for (int i = 0; i < 2500; ++i) {
      Packet p = gen.RandomPacket();
      int want = model::FirstMatch(rules, p, TestIfindex);
      int got = ev.Classify(p);
      ASSERT_EQ(got, want) << "seed " << seed << " packet " << i << " app " << p.app << "/"
                           << int(p.app_category) << " rule "
                           << (want >= 0 ? rules[want].ToJson().dump() : "none") << " got "
                           << (got >= 0 ? rules[got].ToJson().dump() : "none");
      ++compared;
      matched_app += want >= 0 && (rules[want].app || rules[want].app_category);
    }
  }
  EXPECT_GT(matched_app, compared / 20);  // app rules decide a fair share
}

TEST(EfwCompiler, AppFieldsCostNothingWithoutThem) {
  auto plain = MustCompile(ParseRules(R"([{"proto": "tcp", "dport": 80, "action": "allow"}])"));
  EXPECT_FALSE(plain.uses_app);
  EXPECT_EQ(plain.SetConfig().has_app, 0);
  EXPECT_EQ(plain.SetConfig().app_groups, 0u);
  for (const auto& g : plain.groups) EXPECT_FALSE(g.has_app());

  // An app rule in a group of its own shape leaves the port group alone.
  auto mixed = MustCompile(ParseRules(R"([{"app": "BitTorrent", "action": "drop"},
      {"proto": "tcp", "dport": 80, "action": "allow"}])"));
  EXPECT_TRUE(mixed.uses_app);
  efw_set_cfg cfg = mixed.SetConfig();
  EXPECT_EQ(cfg.has_app, 1);
  EXPECT_EQ(cfg.app_groups, 1u);  // group 0: no address, port or interface field
  for (const auto& g : mixed.groups) EXPECT_EQ(g.has_app(), g.group == 0);
  EXPECT_EQ(mixed.matches.size(), 2u);
}

TEST(EfwCompiler, AppRulesClassify) {
  auto rules = ParseRules(R"([
      {"id": "bt", "app": "BitTorrent", "action": "drop"},
      {"id": "games", "app_category": "Game", "action": "drop"},
      {"id": "unknown-web", "app": "Unknown", "proto": "tcp", "action": "allow"},
      {"id": "web", "proto": "tcp", "action": "allow"}])");
  ASSERT_EQ(rules.size(), 4u);
  auto cs = MustCompile(rules);
  TableEvaluator ev(cs);
  Packet p;
  p.proto = 6;
  p.app = *rules[0].app;
  EXPECT_EQ(ev.Classify(p), 0);
  p.app = 7;  // HTTP
  p.app_category = *rules[1].app_category;
  EXPECT_EQ(ev.Classify(p), 1);
  p.app_category = 0;
  EXPECT_EQ(ev.Classify(p), 3);
  p.app = 0;  // not classified yet: "Unknown"
  EXPECT_EQ(ev.Classify(p), 2);
  p.app = EFW_APP_IDS + 100;  // an id past the table reads its last entry
  EXPECT_EQ(ev.Classify(p), 3);
}

TEST(EfwCompiler, LargeBlocklistIsLinear) {
  // 200k distinct /32 sources: one region and one match entry per rule.
  std::vector<Rule> rules(200000);
  for (size_t i = 0; i < rules.size(); ++i) {
    Prefix p;
    p.family = 4;
    p.len = 32;
    p.addr[0] = 10;
    p.addr[1] = static_cast<uint8_t>(i >> 16);
    p.addr[2] = static_cast<uint8_t>(i >> 8);
    p.addr[3] = static_cast<uint8_t>(i);
    rules[i].id = "b" + std::to_string(i);
    rules[i].src = p;
    rules[i].action = Action::kDrop;
  }
  std::vector<uint32_t> slots(rules.size(), 0);
  auto cs = CompileRules(rules, Action::kAllow, slots, {});
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_EQ(cs->matches.size(), rules.size());
  EXPECT_EQ(cs->lpm.size(), rules.size());
  EXPECT_EQ(cs->groups.size(), 1u);
}

// An address table becomes a prefix hash when its prefixes come in at most
// EFW_HASH_LENS lengths (listed longest first); with more it stays a trie.
TEST(EfwCompiler, FewPrefixLengthsMakeAHash) {
  auto rules_with_lengths = [](int lengths) {
    std::vector<Rule> rules;
    for (int i = 0; i < lengths; ++i) {
      Rule r;
      r.id = "l" + std::to_string(i);
      r.src = Prefix{};
      r.src->family = 4;
      r.src->len = static_cast<uint8_t>(32 - i);
      r.src->addr[0] = 10;
      r.action = Action::kDrop;
      rules.push_back(r);
    }
    return rules;
  };
  auto hashed = [](const CompiledRuleSet& cs) {
    size_t n = 0;
    for (const LpmEntry& e : cs.lpm) n += e.hashed;
    return n;
  };

  auto few = rules_with_lengths(EFW_HASH_LENS);
  std::vector<uint32_t> slots(few.size(), 0);
  auto cs = CompileRules(few, Action::kAllow, slots, {});
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_EQ(hashed(*cs), cs->lpm.size());
  ASSERT_EQ(cs->hash_lens[EFW_ADDR_SRC4].size(), size_t{EFW_HASH_LENS});
  EXPECT_EQ(cs->hash_lens[EFW_ADDR_SRC4].front(), 32);
  EXPECT_EQ(cs->hash_lens[EFW_ADDR_SRC4].back(), 32 - EFW_HASH_LENS + 1);
  EXPECT_TRUE(cs->hash_lens[EFW_ADDR_DST4].empty());
  efw_set_cfg cfg = cs->SetConfig();
  EXPECT_EQ(cfg.nlens[EFW_ADDR_SRC4], EFW_HASH_LENS);
  EXPECT_EQ(cfg.lens[EFW_ADDR_SRC4][0], 32);

  CompileOptions tries_only;
  tries_only.max_hash_lengths = 0;
  cs = CompileRules(few, Action::kAllow, slots, tries_only);
  ASSERT_TRUE(cs.ok());
  EXPECT_EQ(hashed(*cs), 0u);
  EXPECT_EQ(cs->SetConfig().nlens[EFW_ADDR_SRC4], 0);

  // A prefix longer than the table's shortest length leaves a marker there
  // (no regions) unless a real prefix holds that spot.
  std::vector<Rule> apart = rules_with_lengths(1);  // 10.0.0.0/32
  apart.push_back(apart[0]);
  apart[1].id = "other";
  apart[1].src->addr = {10, 1};
  apart[1].src->len = 16;  // 10.1.0.0/16: the shortest length
  slots.assign(apart.size(), 0);
  cs = CompileRules(apart, Action::kAllow, slots, {});
  ASSERT_TRUE(cs.ok());
  ASSERT_EQ(cs->lpm.size(), 3u);
  const LpmEntry& m = cs->lpm.back();
  EXPECT_TRUE(m.marker && m.hashed && m.src);
  EXPECT_EQ(m.prefix.ToString(), "10.0.0.0/16");
  EXPECT_EQ(m.regions, (std::array<uint32_t, EFW_ADDR_SLOTS>{}));

  auto many = rules_with_lengths(EFW_HASH_LENS + 1);
  slots.assign(many.size(), 0);
  cs = CompileRules(many, Action::kAllow, slots, {});
  ASSERT_TRUE(cs.ok());
  EXPECT_EQ(hashed(*cs), 0u);
  EXPECT_TRUE(cs->hash_lens[EFW_ADDR_SRC4].empty());
}

}  // namespace
}  // namespace sfc::efw
