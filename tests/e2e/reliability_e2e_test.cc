// Apply under failure, crashes and long runs of edits, with real traffic:
//  - an Apply that fails after touching the data plane is undone completely;
//  - sfcd killed at any step of an Apply restarts into exactly the old or
//    the new chain, with nothing left in staging;
//  - many edits under a sequence-numbered UDP stream and a checksummed TCP
//    transfer lose no allowed packet and keep the state of VNFs that stay.
// Sizes scale with SFC_EDITS and SFC_CRASHES (`make stress` runs the long form).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

#define ASSERT_APPLIED(spec)                 \
  do {                                       \
    CommandResult r_ = sfcd_.Apply(spec);    \
    ASSERT_EQ(r_.exit_code, 0) << r_.output; \
  } while (0)

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

class ReliabilityE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure())
      std::fprintf(stderr, "--- sfcd log (tail) ---\n%s\n", Tail(sfcd_.log()).c_str());
  }
  static std::string Tail(const std::string& s) {
    return s.size() > 20000 ? s.substr(s.size() - 20000) : s;
  }

  std::string Net() const { return "10." + std::to_string(topo_.net()) + "."; }

  // The firewall allows what the tests send (ICMP, the UDP stream on 9999,
  // the TCP transfer on 5555, replies through conntrack) and drops the rest.
  json Firewall(int variant) const {
    json rules = json::array({
        {{"id", "established"},
         {"state", json::array({"established", "related"})},
         {"action", "allow"}},
        {{"id", "icmp"}, {"proto", "icmp"}, {"action", "allow"}},
        {{"id", "stream"}, {"proto", "udp"}, {"dport", 9999}, {"action", "allow"}},
        {{"id", "transfer"}, {"proto", "tcp"}, {"dport", 5555}, {"action", "allow"}},
    });
    // Edits that change nothing for the test traffic: extra rules, in varying places.
    for (int i = 0; i < variant % 4; ++i)
      rules.insert(rules.begin() + (i % rules.size()),
                   json{{"id", "extra" + std::to_string(i)},
                        {"src", "192.0.2." + std::to_string(i) + "/32"},
                        {"action", "drop"}});
    if (variant % 3 == 1) std::swap(rules[1], rules[2]);
    return {
        {"name", "fw"}, {"type", "firewall"}, {"config", {{"default", "drop"}, {"rules", rules}}}};
  }
  json Flowmon() const {
    return {{"name", "fm"}, {"type", "flowmon"}, {"config", {{"max_flows", 4096}}}};
  }
  json Balancer(int backends) const {
    json be = json::array();
    for (int i = 1; i <= backends; ++i)
      be.push_back({{"address", topo_.server_ip(1 + (i % 2))}, {"port", 80 + i}});
    return {{"name", "lb"},
            {"type", "loadbalancer"},
            {"config",
             {{"services", json::array({{{"name", "web"},
                                         {"vip", Net() + "100.1"},
                                         {"proto", "tcp"},
                                         {"port", 80},
                                         {"mode", "dnat"},
                                         {"backends", be}}})}}}};
  }

  std::string Spec(const std::vector<json>& vnfs, const std::string& egress = "fib",
                   const std::vector<std::string>& ifaces = {"eth0", "eth1", "eth2"}) const {
    json ifs = json::array();
    for (const auto& i : ifaces) ifs.push_back({{"name", i}, {"mode", "native"}});
    json list = json::array();
    for (const auto& v : vnfs) list.push_back(v);
    return json{
        {"name", "web"}, {"interfaces", ifs}, {"vnfs", list}, {"egress", {{"action", egress}}}}
        .dump();
  }

  json CtlJson(const std::string& args) { return sfcd_.CtlJson(args); }

  int PingLoss(const std::string& target, const std::string& args = "-c 5 -i 0.2") {
    CommandResult r = topo_.In(topo_.client_ns(), "ping " + args + " -W 1 " + target, 120);
    auto pos = r.output.find("% packet loss");
    if (pos == std::string::npos) return 100;
    auto start = r.output.rfind(' ', pos - 1);
    return std::stoi(r.output.substr(start + 1, pos - start - 1));
  }

  std::vector<std::string> VnfNames(const json& desc) {
    std::vector<std::string> out;
    for (const auto& v : desc["vnfs"]) out.push_back(v["name"]);
    return out;
  }

  // bpftool -j shows keys and values of maps without BTF as little-endian
  // byte strings ("0x2a").
  static uint32_t U32(const json& v) {
    if (v.is_number()) return v.get<uint32_t>();
    uint32_t out = 0;
    for (size_t i = 0; i < v.size() && i < 4; ++i)
      out |= static_cast<uint32_t>(std::stoul(v[i].get<std::string>(), nullptr, 16)) << (8 * i);
    return out;
  }

  // The data plane agrees with what sfcd reports: the root runs slot 0 of the
  // pinned prog array, which holds one program per VNF plus the egress stage;
  // nothing is left in staging; every interface is attached.
  void ExpectConsistent(const json& desc) {
    const std::string dir = sfcd_.root() + "/web";
    for (const auto& e : std::filesystem::directory_iterator(dir))
      EXPECT_FALSE(e.path().filename().string().starts_with("_"))
          << "left in staging: " << e.path();
    CommandResult progs = Sh("bpftool -j map dump pinned " + dir + "/progs");
    CommandResult root = Sh("bpftool -j map dump pinned " + dir + "/root");
    json pj = json::parse(progs.output, nullptr, false),
         rj = json::parse(root.output, nullptr, false);
    ASSERT_FALSE(pj.is_discarded() || rj.is_discarded()) << progs.output << root.output;
    EXPECT_EQ(pj.size(), desc["vnfs"].size() + 1) << progs.output;
    ASSERT_EQ(rj.size(), 1u) << root.output;
    uint32_t slot0 = 0;
    for (const auto& e : pj)
      if (U32(e["key"]) == 0) slot0 = U32(e["value"]);
    EXPECT_NE(slot0, 0u) << progs.output;
    EXPECT_EQ(U32(rj[0]["value"]), slot0) << root.output << progs.output;
    for (const auto& a : desc["attachments"]) EXPECT_TRUE(a["attached"].get<bool>()) << a.dump();
  }

  Topology topo_{2};
  Sfcd sfcd_{topo_};
};

// The reported defect: an Apply adding an interface that holds someone else's
// XDP program, plus a rule dropping ICMP. The attach fails after the switch;
// everything must be undone — ping keeps working, the generation and the
// saved spec are the old ones.
TEST_F(ReliabilityE2E, FailedAttachOfAddedInterfaceRollsBackTheSwitch) {
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  ASSERT_APPLIED(Spec({Firewall(0)}, "fib", {"eth0", "eth1"}));
  ASSERT_EQ(PingLoss(topo_.server_ip(1)), 0);
  ASSERT_EQ(topo_
                .InVm("ip link set dev eth2 xdpdrv obj " + BuildDir() +
                      "/bpf/endpoint_pass.bpf.o sec xdp")
                .exit_code,
            0);

  json fw = Firewall(0);
  fw["config"]["rules"].insert(fw["config"]["rules"].begin(),
                               json{{"id", "no-ping"}, {"proto", "icmp"}, {"action", "drop"}});
  CommandResult r = sfcd_.Apply(Spec({fw}, "fib", {"eth0", "eth1", "eth2"}));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("eth2"), std::string::npos) << r.output;

  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0) << "the new rules are running after a failed Apply";
  json desc = CtlJson("describe chain web");
  EXPECT_EQ(desc["generation"], "1");
  EXPECT_EQ(desc["attachments"].size(), 2u);
  ExpectConsistent(desc);
  CommandResult rules = sfcd_.Ctl("fw list-rules web fw");
  EXPECT_EQ(rules.output.find("no-ping"), std::string::npos) << rules.output;
  // A restart finds the old spec saved, not the failed one.
  sfcd_.Stop();
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  EXPECT_EQ(CtlJson("describe chain web")["attachments"].size(), 2u);
  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);
  topo_.InVm("ip link set dev eth2 xdpdrv off");
}

// native -> generic detaches before it attaches (the kernel holds one mode at
// a time); when the new attach fails, the old one comes back.
TEST_F(ReliabilityE2E, FailedModeChangeRestoresTheOldAttachment) {
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  ASSERT_APPLIED(Spec({Flowmon()}));
  json before = CtlJson("describe chain web");
  sfcd_.Stop();
  ASSERT_TRUE(sfcd_.Start("", "SFC_FAILPOINTS=apply.attach=error@2")) << sfcd_.log();

  json spec = json::parse(Spec({Flowmon()}));
  for (auto& i : spec["interfaces"]) i["mode"] = "generic";
  CommandResult r = sfcd_.Apply(spec.dump());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  json after = CtlJson("describe chain web");
  EXPECT_EQ(after["generation"], before["generation"]);
  for (size_t i = 0; i < after["attachments"].size(); ++i) {
    EXPECT_EQ(after["attachments"][i]["mode"], "native") << after["attachments"][i].dump();
    EXPECT_EQ(after["attachments"][i]["prog_id"], before["attachments"][i]["prog_id"]);
  }
  ExpectConsistent(after);
  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);
}

// `ip netns exec` gives sfcd a private mount namespace and /sys: refused, with
// the way to run it instead; accepted only when asked for.
TEST_F(ReliabilityE2E, PrivateBpffsIsRefusedWithAHint) {
  const std::string args = " --bpffs-root " + sfcd_.root() + "-priv --state-dir " +
                           sfcd_.state_dir() + "-priv --listen unix:" + sfcd_.socket() + "-priv";
  CommandResult r = topo_.In(topo_.vm_ns(), BuildDir() + "/daemon/sfcd" + args, 20);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("private"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nsenter --net=/run/netns/"), std::string::npos) << r.output;

  r = topo_.In(topo_.vm_ns(),
               "timeout -s INT 3 " + BuildDir() + "/daemon/sfcd" + args + " --allow-private-bpffs",
               20);
  EXPECT_NE(r.output.find("event=sfcd.ready"), std::string::npos) << r.output;
  std::error_code ec;
  std::filesystem::remove_all(sfcd_.state_dir() + "-priv", ec);
}

// sfcd dies (SIGKILL, no cleanup) at each step of an Apply. The restarted
// sfcd must run exactly the old chain or the new one — what it reports and
// what the pins hold agree — with nothing left in staging.
TEST_F(ReliabilityE2E, KillAtEveryApplyStepEndsInTheOldOrTheNewChain) {
  struct Case {
    const char* failpoint;  // SFC_FAILPOINTS syntax
    bool new_chain;         // the saved spec is the new one once the save happened
  } cases[] = {{"apply.save=crash", false},        {"apply.before_switch=crash", true},
               {"apply.after_switch=crash", true}, {"apply.attach=crash", true},
               {"apply.commit=crash", true},       {"apply.pin_move=crash@2", true},
               {"apply.after_commit=crash", true}};
  // The new chain adds a VNF and an interface, and changes the rules.
  const std::string old_spec = Spec({Firewall(0), Flowmon()}, "fib", {"eth0", "eth1"});
  const std::string new_spec =
      Spec({Firewall(1), json{{"name", "n"}, {"type", "noop"}}, Flowmon()});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.failpoint);
    ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
    ASSERT_APPLIED(old_spec);
    sfcd_.Stop();
    ASSERT_TRUE(sfcd_.Start("", std::string("SFC_FAILPOINTS=") + c.failpoint)) << sfcd_.log();
    std::thread ping([&] { EXPECT_LE(PingLoss(topo_.server_ip(1), "-c 100 -i 0.02"), 5); });
    CommandResult r = sfcd_.Apply(new_spec);
    EXPECT_NE(r.exit_code, 0) << "sfcd did not crash: " << r.output;
    sfcd_.Kill9();  // reap it
    ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
    ping.join();
    json desc = CtlJson("describe chain web");
    std::vector<std::string> want = c.new_chain ? std::vector<std::string>{"fw", "n", "fm"}
                                                : std::vector<std::string>{"fw", "fm"};
    EXPECT_EQ(VnfNames(desc), want);
    EXPECT_EQ(desc["attachments"].size(), c.new_chain ? 3u : 2u);
    ExpectConsistent(desc);
    EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);
    ASSERT_EQ(sfcd_.Ctl("delete chain web").exit_code, 0);
    sfcd_.Stop();
  }
}

// The same at random instants: kill -9 while an Apply runs, many times.
TEST_F(ReliabilityE2E, RandomKillsDuringApply) {
  const int rounds = EnvInt("SFC_CRASHES", 50);
  const std::string a = Spec({Firewall(0), Flowmon(), Balancer(2)});
  const std::string b =
      Spec({Flowmon(), Firewall(2), json{{"name", "n"}, {"type", "noop"}}}, "pass");
  const std::set<std::vector<std::string>> valid = {{"fw", "fm", "lb"}, {"fm", "fw", "n"}};
  std::mt19937 rng(EnvInt("SFC_SEED", 1));
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  ASSERT_APPLIED(a);
  int ended_new = 0;
  for (int i = 0; i < rounds; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    std::thread apply([&] { sfcd_.Apply(i % 2 ? a : b); });
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
    sfcd_.Kill9();
    apply.join();
    ASSERT_TRUE(sfcd_.Start()) << Tail(sfcd_.log());
    json desc = CtlJson("describe chain web");
    std::vector<std::string> names = VnfNames(desc);
    EXPECT_TRUE(valid.count(names)) << desc.dump();
    ended_new += names == (i % 2 ? std::vector<std::string>{"fw", "fm", "lb"}
                                 : std::vector<std::string>{"fm", "fw", "n"});
    ExpectConsistent(desc);
    if (HasFailure()) break;
  }
  EXPECT_EQ(PingLoss(topo_.server_ip(2)), 0);
  std::fprintf(stderr, "random kills: %d rounds, %d ended in the new chain\n", rounds, ended_new);
  RecordProperty("crashes", rounds);
}

// With the real VNFs: a TCP transfer that the firewall lets through only as
// an established connection survives kill -9 and the restart (conntrack,
// flows and LB state live in pinned maps), and the flow monitor's count of
// the transfer continues.
TEST_F(ReliabilityE2E, ConntrackAndFlowsSurviveACrash) {
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  ASSERT_APPLIED(Spec({Firewall(0), Flowmon(), Balancer(2)}));
  const std::string tools = SourceDir() + "/tests/e2e/tools/streams.py";
  const std::string out = "/tmp/sfc-e2e-" + topo_.prefix() + "-tcp";
  topo_.Spawn(topo_.server_ns(1), tools + " tcp-recv --bind " + topo_.server_ip(1) +
                                      " --port 5555 --out " + out + ".recv");
  std::this_thread::sleep_for(milliseconds(500));
  std::thread send([&] {
    CommandResult r =
        topo_.In(topo_.client_ns(),
                 tools + " tcp-send --to " + topo_.server_ip(1) +
                     " --port 5555 --rate 20000000 --seconds 6 --out " + out + ".send",
                 60);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  });
  std::this_thread::sleep_for(milliseconds(1500));
  sfcd_.Kill9();
  std::this_thread::sleep_for(milliseconds(1000));
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  send.join();
  std::this_thread::sleep_for(milliseconds(500));
  json sent = json::parse(Sh("cat " + out + ".send").output, nullptr, false);
  json recv = json::parse(Sh("cat " + out + ".recv").output, nullptr, false);
  ASSERT_FALSE(sent.is_discarded() || recv.is_discarded());
  EXPECT_GT(sent["bytes"].get<uint64_t>(), 50u << 20);
  EXPECT_EQ(recv["bytes"], sent["bytes"]);
  EXPECT_EQ(recv["sha256"], sent["sha256"]);
  EXPECT_NE(sfcd_.log().find("event=chain.adopted chain=web"), std::string::npos);
  CommandResult flows = sfcd_.Ctl("-o json flows web");
  EXPECT_NE(flows.output.find("5555"), std::string::npos) << flows.output;
  Sh("rm -f " + out + ".send " + out + ".recv");
}

// A reboot with the real VNFs: pins and attachments gone, the state directory
// kept. The restarted sfcd rebuilds the chain from its saved spec, including a
// rule added live through the API, and the rebuilt chain enforces and edits.
TEST_F(ReliabilityE2E, RebootRebuildsTheChainWithItsLiveEdits) {
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  ASSERT_APPLIED(Spec({Firewall(0), Flowmon(), Balancer(2)}));
  ASSERT_EQ(PingLoss(topo_.server_ip(1)), 0);
  CommandResult add =
      sfcd_.Ctl("fw add-rule web fw --id no-ping --before icmp --proto icmp --action drop");
  ASSERT_EQ(add.exit_code, 0) << add.output;
  ASSERT_EQ(PingLoss(topo_.server_ip(1)), 100);

  sfcd_.Stop();
  for (const char* ifname : {"eth0", "eth1", "eth2"})
    topo_.InVm(std::string("xdp-loader unload ") + ifname + " --all");
  ASSERT_EQ(Sh("rm -rf " + sfcd_.root() + "/web").exit_code, 0);
  ASSERT_EQ(PingLoss(topo_.server_ip(1)), 0) << "nothing filters while sfcd is down";

  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  json desc = CtlJson("describe chain web");
  EXPECT_EQ(VnfNames(desc), (std::vector<std::string>{"fw", "fm", "lb"}));
  ExpectConsistent(desc);
  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 100) << "the live-added rule was rebuilt";
  EXPECT_NE(sfcd_.Ctl("-o json fw list web fw").output.find("no-ping"), std::string::npos);
  EXPECT_NE(sfcd_.Ctl("-o json lb list web lb").output.find(Net() + "100.1"), std::string::npos);
  CommandResult del = sfcd_.Ctl("fw delete-rule web fw no-ping");
  ASSERT_EQ(del.exit_code, 0) << del.output;
  EXPECT_EQ(PingLoss(topo_.server_ip(1)), 0);
}

// Many edits — VNFs added, removed and reordered, rules, backends, egress —
// while a sequence-numbered UDP stream and a checksummed TCP transfer cross
// the chain: no allowed packet is lost, the transfer is byte-exact, and the
// flow monitor (which stays throughout) counted every datagram of the stream.
TEST_F(ReliabilityE2E, EditsUnderTrafficLoseNothing) {
  const int edits = EnvInt("SFC_EDITS", 100);
  std::vector<std::string> specs;
  for (int v = 0; v < 12; ++v) {
    std::vector<json> vnfs;
    json fw = Firewall(v), fm = Flowmon(), lb = Balancer(1 + v % 3),
         noop = {{"name", "n"}, {"type", "noop"}};
    switch (v % 4) {
      case 0:
        vnfs = {fw, fm, lb};
        break;
      case 1:
        vnfs = {fm, fw};
        break;
      case 2:
        vnfs = {fw, noop, fm, lb};
        break;
      case 3:
        vnfs = {noop, fm, fw};
        break;
    }
    specs.push_back(Spec(vnfs, v % 5 == 4 ? "pass" : "fib"));
  }
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  ASSERT_APPLIED(specs[0]);

  const std::string tools = SourceDir() + "/tests/e2e/tools/streams.py";
  const std::string out = "/tmp/sfc-e2e-" + topo_.prefix();
  // ~0.3 s per edit on this kind of machine; the streams outlast the edits.
  const int seconds = std::max(10, edits * 6 / 10 + 5);
  topo_.Spawn(topo_.server_ns(2), tools + " udp-recv --bind " + topo_.server_ip(2) +
                                      " --port 9999 --timeout " + std::to_string(seconds + 60) +
                                      " --out " + out + ".udp");
  topo_.Spawn(topo_.server_ns(1), tools + " tcp-recv --bind " + topo_.server_ip(1) +
                                      " --port 5555 --timeout " + std::to_string(seconds + 60) +
                                      " --out " + out + ".tcprecv");
  std::this_thread::sleep_for(milliseconds(500));
  std::thread udp([&] {
    topo_.In(topo_.client_ns(),
             tools + " udp-send --to " + topo_.server_ip(2) +
                 " --port 9999 --rate 2000 --seconds " + std::to_string(seconds) + " --out " + out +
                 ".udpsend",
             seconds + 60);
  });
  std::thread tcp([&] {
    CommandResult r = topo_.In(topo_.client_ns(),
                               tools + " tcp-send --to " + topo_.server_ip(1) +
                                   " --port 5555 --rate 5000000 --seconds " +
                                   std::to_string(seconds) + " --out " + out + ".tcpsend",
                               seconds + 60);
    EXPECT_EQ(r.exit_code, 0) << r.output;
  });

  std::mt19937 rng(EnvInt("SFC_SEED", 1));
  int applied = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < edits; ++i) {
    const std::string& spec =
        specs[std::uniform_int_distribution<size_t>(0, specs.size() - 1)(rng)];
    CommandResult r = sfcd_.Apply(spec);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    applied += r.exit_code == 0;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(seconds - 2)) break;
  }
  udp.join();
  tcp.join();
  std::this_thread::sleep_for(milliseconds(1500));

  json us = json::parse(Sh("cat " + out + ".udpsend").output, nullptr, false);
  json ur = json::parse(Sh("cat " + out + ".udp").output, nullptr, false);
  json ts = json::parse(Sh("cat " + out + ".tcpsend").output, nullptr, false);
  json tr = json::parse(Sh("cat " + out + ".tcprecv").output, nullptr, false);
  ASSERT_FALSE(us.is_discarded() || ur.is_discarded() || ts.is_discarded() || tr.is_discarded());
  EXPECT_GE(applied, std::min(edits, 20)) << "too few edits happened under traffic";
  EXPECT_EQ(ur["sent"], us["sent"]);
  EXPECT_EQ(ur["missing"], 0) << ur.dump();
  EXPECT_EQ(tr["bytes"], ts["bytes"]);
  EXPECT_EQ(tr["sha256"], ts["sha256"]);

  // The flow monitor stayed in every spec: its record of the stream is exact.
  json flows = CtlJson("flows web");
  uint64_t stream_packets = 0;
  for (const auto& f : flows["flows"])
    if (f.value("dst_port", 0) == 9999)
      stream_packets += std::stoull(f.value("packets", std::string("0")));
  // (the end markers are datagrams of the same flow)
  EXPECT_EQ(stream_packets, us["sent"].get<uint64_t>() + us["end_markers"].get<uint64_t>())
      << flows.dump().substr(0, 2000);
  std::fprintf(stderr, "edits: %d applied under traffic; UDP %s sent, %s missing; TCP %s bytes\n",
               applied, us["sent"].dump().c_str(), ur["missing"].dump().c_str(),
               ts["bytes"].dump().c_str());
  RecordProperty("edits", applied);
  Sh("rm -f " + out + ".udp " + out + ".udpsend " + out + ".tcpsend " + out + ".tcprecv");
}

}  // namespace
}  // namespace sfc::test
