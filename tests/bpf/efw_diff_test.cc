// Differential test: random rule sets and random packets through the real
// firewall program (in a loaded chain), against the plain reference model of
// tests/unit/efw_model.h plus a small connection-tracking model. Every
// verdict, every reject reply's checksums and every rule counter must agree.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <net/if.h>

#include <map>

#include "efw/efw.h"
#include "efw/maps.h"
#include "efw_model.h"
#include "support/chain_fixture.h"
#include "support/packet.h"
#include "tools/app_stamp.h"

namespace sfc::test {
namespace {

using efw::model::Packet;

// Connection tracking as docs/firewall.md states it (timeouts never expire
// within the test).
class CtModel {
 public:
  struct Decision {
    uint32_t state;
    bool trackable = false;
    bool from_a = false;
    bool found = false;
  };

  Decision State(const Packet& p) {
    Decision d;
    if (p.frag_later) return {4};
    const bool icmp = p.proto == 1 || p.proto == 58;
    if (p.proto != 6 && p.proto != 17 && !icmp) return {0};
    if (icmp) {
      if (IsIcmpError(p.proto, p.icmp_type)) return {3};  // no quoted packet here: invalid
      const bool req = p.icmp_type == (p.proto == 1 ? 8 : 128);
      const bool echo = req || p.icmp_type == (p.proto == 1 ? 0 : 129);
      if (!echo) return {0};
      Key k = MakeKey(p, p.sport, p.sport, &d.from_a);
      auto it = table_.find(k);
      if (it == table_.end()) {
        if (!req) return {3};
        d.state = 0;
        d.trackable = true;
        key_ = k;
        return d;
      }
      key_ = k;
      d.found = true;
      d.state = (it->second.seen_reply || d.from_a != it->second.orig_is_a) ? 1 : 0;
      return d;
    }
    Key k = MakeKey(p, p.sport, p.dport, &d.from_a);
    key_ = k;
    auto it = table_.find(k);
    if (p.proto == 6) {
      const bool syn_only = (p.tcp_flags & 0x16) == 0x02;
      if (it != table_.end() && syn_only && it->second.tcp_state == 3) {
        table_.erase(it);
        it = table_.end();
      }
      if (it == table_.end()) {
        if (!syn_only) return {3, false, d.from_a};
        return {0, true, d.from_a};
      }
    } else if (it == table_.end()) {
      return {0, true, d.from_a};
    }
    d.found = true;
    d.state = (it->second.seen_reply || d.from_a != it->second.orig_is_a) ? 1 : 0;
    return d;
  }

  void Commit(const Packet& p, const Decision& d) {
    if (!d.found) {
      if (d.trackable) table_[key_] = Entry{d.from_a, false, 0, 0};
      return;
    }
    Entry& e = table_[key_];
    if (d.from_a != e.orig_is_a) e.seen_reply = true;
    if (p.proto != 6) return;
    if (p.tcp_flags & 0x04) {
      table_.erase(key_);
      return;
    }
    if (p.tcp_flags & 0x01) e.fin |= d.from_a ? 1 : 2;
    if (e.fin == 3)
      e.tcp_state = 3;
    else if (e.fin)
      e.tcp_state = 2;
    else if (e.seen_reply)
      e.tcp_state = 1;
  }

  void Clear() { table_.clear(); }

  static bool IsIcmpError(uint8_t proto, uint8_t type) {
    if (proto == 1) return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
    return type < 128;
  }

 private:
  using Endpoint = std::pair<std::array<uint8_t, 16>, uint16_t>;
  using Key = std::tuple<Endpoint, Endpoint, uint8_t>;
  struct Entry {
    bool orig_is_a, seen_reply;
    int tcp_state;
    uint8_t fin;
  };

  static Key MakeKey(const Packet& p, uint16_t sp, uint16_t dp, bool* from_a) {
    Endpoint s, d;
    std::copy(p.saddr, p.saddr + 16, s.first.begin());
    std::copy(p.daddr, p.daddr + 16, d.first.begin());
    s.second = sp;
    d.second = dp;
    *from_a = s <= d;
    return *from_a ? Key{s, d, p.proto} : Key{d, s, p.proto};
  }

  std::map<Key, Entry> table_;
  Key key_;
};

std::string AddrString(int family, const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, a, buf, sizeof(buf));
  return buf;
}

Bytes BuildFrame(const Packet& p, efw::model::Generator& gen, uint16_t icmp_id) {
  PacketBuilder b;
  if (gen.Chance(20)) b.Vlan(static_cast<uint16_t>(1 + gen.Pick(4000)));
  if (gen.Chance(5)) b.Vlan(static_cast<uint16_t>(1 + gen.Pick(4000)));
  if (p.family == 4) {
    b.Ipv4(AddrString(4, p.saddr), AddrString(4, p.daddr));
    if (gen.Chance(15)) b.Ipv4Options({1, 1, 1, 0});
    if (p.frag_later)
      b.Ipv4Fragment(static_cast<uint16_t>(8 * (1 + gen.Pick(100))), gen.Chance(50));
  } else {
    b.Ipv6(AddrString(6, p.saddr), AddrString(6, p.daddr));
    if (gen.Chance(15)) b.Ipv6Ext(0);
    if (p.frag_later)
      b.Ipv6Fragment(static_cast<uint16_t>(8 * (1 + gen.Pick(100))), gen.Chance(50));
  }
  switch (p.proto) {
    case 6:
      b.Tcp(p.sport, p.dport, p.tcp_flags, 1000 + gen.Pick(1000), gen.Pick(1000));
      break;
    case 17:
      b.Udp(p.sport, p.dport);
      break;
    case 1:
    case 58:
      b.Icmp(p.icmp_type, 0, icmp_id, 1);
      break;
    default:
      b.Proto(p.proto);
      break;
  }
  b.Payload(static_cast<size_t>(gen.Pick(3) * 20));
  return b.Build();
}

TEST(EfwDifferential, BpfAgreesWithModel) {
  auto chain = LoadedChain::Load(
      R"({"name": "fwdiff", "interfaces": ["lo"], "vnfs": [{"name": "fw", "type": "firewall",
          "config": {"max_rules": 4096}}]})");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  LoadedChain& c = **chain;
  std::string dir = c.PinPath("fw", "x");
  dir.resize(dir.size() - 2);
  auto tables = efw::FirewallTables::FromPins(dir);
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  auto ct_map = c.OpenMap("fw", "conntrack");
  ASSERT_TRUE(ct_map.ok());

  // A second real interface, so "iif" rules can also fail to match.
  uint32_t other_ifindex = 0;
  for (const char* name : {"eth0", "ifb0", "dummy0"})
    if ((other_ifindex = if_nametoindex(name))) break;
  auto ifindex_of = [](const std::string& name) {
    return static_cast<uint32_t>(if_nametoindex(name.c_str()));
  };

  int total = 0, allowed = 0, dropped = 0, rejected = 0;
  size_t hashed_seeds = 0, trie_seeds = 0;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    efw::model::Generator gen(seed * 7919);
    auto rules = gen.RandomRules(1 + gen.Pick(150));
    for (auto& r : rules) r.id = "s" + std::to_string(seed) + "-" + r.id;
    const efw::Action def = gen.Chance(50) ? efw::Action::kAllow : efw::Action::kDrop;
    // Odd seeds keep every address table a trie, even seeds let the
    // compiler pick prefix hashes, so both lookups face the same model.
    tables->set_max_hash_lengths(seed % 2 ? 0 : EFW_HASH_LENS);
    auto st = tables->Install(rules, def);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    if (st->lpm_entries) ++(st->hashed_tables ? hashed_seeds : trie_seeds);

    // Fresh connection table for a fresh rule set.
    std::vector<efw_ct_key> keys;
    efw_ct_key k{}, next{};
    for (const efw_ct_key* prev = nullptr; bpf_map_get_next_key(ct_map->get(), prev, &next) == 0;
         prev = &k)
      keys.push_back(k = next);
    for (const auto& key : keys) bpf_map_delete_elem(ct_map->get(), &key);
    CtModel ct;

    std::vector<uint64_t> want_counts(rules.size());
    for (int i = 0; i < 2600; ++i) {
      Packet p = gen.RandomPacket();
      // The builder emits ICMP for IPv4 and ICMPv6 for IPv6.
      if (p.proto == 1 || p.proto == 58) p.proto = p.family == 4 ? 1 : 58;
      uint16_t icmp_id = static_cast<uint16_t>(1 + gen.Pick(2));
      p.ifindex = (other_ifindex && gen.Chance(30)) ? other_ifindex : 1;
      Bytes frame = BuildFrame(p, gen, icmp_id);
      // The model keys echo flows by identifier; the value only needs to be consistent.
      if (p.proto == 1 || p.proto == 58) p.sport = p.dport = icmp_id;

      auto d = ct.State(p);
      p.state = d.state;
      const int idx = efw::model::FirstMatch(rules, p, ifindex_of);
      const efw::Action action = idx >= 0 ? rules[idx].action : def;
      int want;
      if (action == efw::Action::kAllow) {
        want = XDP_PASS;
        ct.Commit(p, d);
      } else if (action == efw::Action::kDrop) {
        want = XDP_DROP;
      } else {
        bool answerable = !p.frag_later;
        if (p.proto == 6)
          answerable = answerable && !(p.tcp_flags & 0x04);
        else if (p.proto == 1 || p.proto == 58)
          answerable = answerable && !CtModel::IsIcmpError(p.proto, p.icmp_type);
        want = answerable ? XDP_TX : XDP_DROP;
      }
      if (idx >= 0) want_counts[idx]++;

      auto run = c.Run(frame, p.ifindex);
      ASSERT_TRUE(run.ok()) << run.status().ToString();
      ASSERT_EQ(run->action, want)
          << "seed " << seed << " packet " << i << " state " << p.state << " proto " << int(p.proto)
          << " rule " << (idx >= 0 ? rules[idx].ToJson().dump() : "default");
      if (want == XDP_TX) {
        FrameInfo fi = CheckFrame(run->out);
        ASSERT_TRUE(fi.ok) << fi.error;
        ASSERT_TRUE(fi.l3_csum_ok && fi.l4_csum_ok) << "seed " << seed << " packet " << i;
      }
      ++total;
      allowed += want == XDP_PASS;
      dropped += want == XDP_DROP;
      rejected += want == XDP_TX;
    }
    auto counters = tables->Counters(rules);
    ASSERT_TRUE(counters.ok()) << counters.status().ToString();
    for (size_t r = 0; r < rules.size(); ++r)
      ASSERT_EQ((*counters)[r].packets, want_counts[r])
          << "seed " << seed << " rule " << rules[r].id;
  }
  EXPECT_GE(total, 100000);
  EXPECT_GE(hashed_seeds, 15u);
  EXPECT_GE(trie_seeds, 15u);
  // The pools are tuned so every outcome is well represented.
  EXPECT_GT(allowed, total / 10);
  EXPECT_GT(dropped, total / 10);
  EXPECT_GT(rejected, total / 20);
}

// The same with rules on app and app_category: an app_stamp VNF before the
// firewall labels each packet with the application the generator drew, so a
// connection's packets change application at random and every verdict the
// connection cached must give way to the model's.
TEST(EfwDifferential, AppRulesAgreeWithModel) {
  auto chain = LoadedChain::Load(
      R"({"name": "fwdiffapp", "interfaces": ["lo"], "vnfs": [
          {"name": "dpi", "type": "app_stamp", "config": {}},
          {"name": "fw", "type": "firewall", "config": {"max_rules": 4096}}]})");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  LoadedChain& c = **chain;
  std::string dir = c.PinPath("fw", "x");
  dir.resize(dir.size() - 2);
  auto tables = efw::FirewallTables::FromPins(dir);
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  auto stamp = c.OpenMap("dpi", "app");
  ASSERT_TRUE(stamp.ok()) << stamp.status().ToString();
  auto ifindex_of = [](const std::string& name) {
    return static_cast<uint32_t>(if_nametoindex(name.c_str()));
  };

  int total = 0, by_app_rule = 0;
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    efw::model::Generator gen(seed * 104729, /*with_apps=*/true);
    auto rules = gen.RandomRules(1 + gen.Pick(100));
    for (auto& r : rules) r.id = "a" + std::to_string(seed) + "-" + r.id;
    const efw::Action def = gen.Chance(50) ? efw::Action::kAllow : efw::Action::kDrop;
    auto st = tables->Install(rules, def);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    CtModel ct;  // the previous seed's connections may linger: fresh addresses below
    std::vector<uint64_t> want_counts(rules.size());
    std::map<std::tuple<std::pair<uint16_t, uint8_t>, std::pair<uint16_t, uint8_t>, uint8_t, int>,
             std::pair<uint16_t, uint8_t>>
        flow_app;
    std::vector<Packet> history;
    for (int i = 0; i < 2000; ++i) {
      // Replays of earlier packets, so connections see many packets.
      Packet p = !history.empty() && gen.Chance(50) ? history[gen.Pick(history.size())]
                                                    : gen.RandomPacket();
      history.push_back(p);
      if (p.proto == 1 || p.proto == 58) p.proto = p.family == 4 ? 1 : 58;
      // Each seed its own address space, so no connection carries over.
      p.saddr[p.family == 4 ? 1 : 13] = static_cast<uint8_t>(seed);
      p.daddr[p.family == 4 ? 1 : 13] = static_cast<uint8_t>(seed);
      p.ifindex = 1;  // what c.Run() gives the entry
      // Mostly the application the flow's (either direction's) last packet
      // had, as a dpi VNF labels a flow; now and then a new one, so cached
      // verdicts both hold and have to give way.
      const auto flow =
          std::minmax(std::pair{p.sport, p.saddr[15]}, std::pair{p.dport, p.daddr[15]});
      const auto flow_key = std::tuple{flow.first, flow.second, p.proto, p.family};
      if (auto it = flow_app.find(flow_key); it != flow_app.end() && gen.Chance(85)) {
        p.app = it->second.first;
        p.app_category = it->second.second;
      }
      flow_app[flow_key] = {p.app, p.app_category};
      uint16_t icmp_id = static_cast<uint16_t>(1 + gen.Pick(2));
      Bytes frame = BuildFrame(p, gen, icmp_id);
      if (p.proto == 1 || p.proto == 58) p.sport = p.dport = icmp_id;
      uint32_t zero = 0;
      app_stamp label{};
      label.app = p.app;
      label.app_category = p.app_category;
      ASSERT_EQ(bpf_map_update_elem(stamp->get(), &zero, &label, BPF_ANY), 0);

      auto d = ct.State(p);
      p.state = d.state;
      const int idx = efw::model::FirstMatch(rules, p, ifindex_of);
      const efw::Action action = idx >= 0 ? rules[idx].action : def;
      int want;
      if (action == efw::Action::kAllow) {
        want = XDP_PASS;
        ct.Commit(p, d);
      } else if (action == efw::Action::kDrop) {
        want = XDP_DROP;
      } else {
        bool answerable = !p.frag_later;
        if (p.proto == 6)
          answerable = answerable && !(p.tcp_flags & 0x04);
        else if (p.proto == 1 || p.proto == 58)
          answerable = answerable && !CtModel::IsIcmpError(p.proto, p.icmp_type);
        want = answerable ? XDP_TX : XDP_DROP;
      }
      if (idx >= 0) want_counts[idx]++;
      by_app_rule += idx >= 0 && (rules[idx].app || rules[idx].app_category);

      auto run = c.Run(frame, 1);
      ASSERT_TRUE(run.ok()) << run.status().ToString();
      ASSERT_EQ(run->action, want)
          << "seed " << seed << " packet " << i << " app " << p.app << "/" << int(p.app_category)
          << " state " << p.state << " proto " << int(p.proto) << " flags " << int(p.tcp_flags)
          << " frag " << p.frag_later << " " << AddrString(p.family, p.saddr) << ":" << p.sport
          << " > " << AddrString(p.family, p.daddr) << ":" << p.dport << " rule "
          << (idx >= 0 ? rules[idx].ToJson().dump() : "default");
      ++total;
    }
    auto counters = tables->Counters(rules);
    ASSERT_TRUE(counters.ok()) << counters.status().ToString();
    for (size_t r = 0; r < rules.size(); ++r)
      ASSERT_EQ((*counters)[r].packets, want_counts[r])
          << "seed " << seed << " rule " << rules[r].id;
  }
  EXPECT_EQ(total, 24000);
  EXPECT_GT(by_app_rule, total / 20);
  auto cached = c.VnfCounter("fw", "verdict_cached");
  ASSERT_TRUE(cached.ok());
  EXPECT_GT(*cached, 0u);  // the cache was in play, not bypassed
}

}  // namespace
}  // namespace sfc::test
