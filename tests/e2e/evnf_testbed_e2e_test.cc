// The eVNF paper's testbed (scripts/evnf-testbed.sh): three "VM" namespaces,
// one VNF each — firewall VM → flow-monitor VM → load-balancer VM — each with
// its own sfcd (own bpffs root, state dir and socket), linked by `fib` next
// hops, two servers (nginx, Python's http.server, iperf3) behind the load
// balancer's VIP. The Python orchestrator applies the three chains in
// parallel; real HTTP and iperf3 traffic from the client crosses all three
// VMs' XDP fast paths, and the orchestrator's stats watch sees it in each.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;

std::atomic<int> g_seq{0};

// The topology and its servers; torn down by the destructor, also on failure.
class EvnfTestbed {
 public:
  EvnfTestbed() {
    const int seq = g_seq++;
    prefix_ = "v" + std::to_string(getpid() % 100000) + static_cast<char>('a' + seq % 26);
    net_ = 100 + (getpid() + seq + 77) % 150;
    up_ = Sh("SFC_ENDPOINT_XDP=" + BuildDir() + "/bpf/endpoint_pass.bpf.o " + Script() + " up " +
             prefix_ + " " + std::to_string(net_));
    chains_ = "/tmp/sfc-e2e-" + prefix_ + "-chains";
    if (up_.exit_code == 0)
      up_ = Sh(Script() + " chains " + prefix_ + " " + std::to_string(net_) + " " + chains_);
  }
  ~EvnfTestbed() {
    Sh(Script() + " down " + prefix_);
    std::error_code ec;
    std::filesystem::remove_all(chains_, ec);
  }
  EvnfTestbed(const EvnfTestbed&) = delete;
  EvnfTestbed& operator=(const EvnfTestbed&) = delete;

  const CommandResult& up() const { return up_; }
  std::string ns(const std::string& which) const { return prefix_ + which; }
  std::string prefix() const { return prefix_; }
  std::string ip(const std::string& host) const {
    return "10." + std::to_string(net_) + "." + host;
  }
  std::string chain_file(const std::string& vnf) const { return chains_ + "/" + vnf + ".json"; }
  CommandResult In(const std::string& which, const std::string& command, int timeout_s = 60) const {
    return Sh("ip netns exec " + ns(which) + " " + command, timeout_s);
  }

 private:
  static std::string Script() { return SourceDir() + "/scripts/evnf-testbed.sh"; }
  std::string prefix_, chains_;
  int net_;
  CommandResult up_;
};

CommandResult Orchestrator(const std::string& args, int timeout_s = 120) {
  return Sh("PYTHONPATH=" + BuildDir() + "/clients/python/gen:" + SourceDir() +
                "/clients/python /usr/bin/python3 -m sfc_orchestrator " + args,
            timeout_s);
}

std::vector<json> Lines(const std::string& output) {
  std::vector<json> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '{') continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
  }
  return out;
}

uint64_t Counter(const json& snap, const std::string& vnf, const std::string& name) {
  const json& c = vnf.empty() ? snap["counters"] : snap["vnfs"][vnf];
  return c.value(name, uint64_t{0});
}

TEST(EvnfTestbedE2E, OrchestratorAppliesThreeVmsAndHttpAndIperf3CrossThem) {
  EvnfTestbed bed;
  ASSERT_EQ(bed.up().exit_code, 0) << bed.up().output;
  Sfcd fw(bed.ns("fw"), bed.prefix() + "fw"), fm(bed.ns("fm"), bed.prefix() + "fm"),
      lb(bed.ns("lb"), bed.prefix() + "lb");
  ASSERT_TRUE(fw.Start()) << fw.log();
  ASSERT_TRUE(fm.Start()) << fm.log();
  ASSERT_TRUE(lb.Start()) << lb.log();
  const std::string sfw = "unix:" + fw.socket(), sfm = "unix:" + fm.socket(),
                    slb = "unix:" + lb.socket();

  // The orchestrator applies one chain per VM, all three in parallel.
  CommandResult r =
      Orchestrator("apply --guarded --sfcd " + sfw + " " + bed.chain_file("fw") + " --sfcd " + sfm +
                   " " + bed.chain_file("fm") + " --sfcd " + slb + " " + bed.chain_file("lb"));
  ASSERT_EQ(r.exit_code, 0) << r.output << fw.log() << fm.log() << lb.log();
  auto lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 3u) << r.output;
  const char* names[] = {"fw-vm", "fm-vm", "lb-vm"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i]["chain"], names[i]);
    EXPECT_EQ(lines[i]["generation"], 1);
    EXPECT_EQ(lines[i]["changed"], true);
  }
  // Each VM's sfcd runs its own chain only, attached to both its interfaces (lb: three).
  r = Orchestrator("status --sfcd " + sfw + " --sfcd " + sfm + " --sfcd " + slb);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lines = Lines(r.output);
  ASSERT_EQ(lines.size(), 3u) << r.output;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i]["serving"], true);
    EXPECT_EQ(lines[i]["chains"].size(), 1u) << lines[i];
    EXPECT_EQ(lines[i]["chains"][names[i]]["attached"], true) << lines[i];
  }

  // Wait for the load balancer's health checks to mark both web backends up.
  int web_up = 0;
  for (int i = 0; i < 50 && web_up < 2; ++i) {
    web_up = 0;
    for (const auto& s : lb.CtlJson("lb list lb-vm lb").value("services", json::array()))
      if (s["spec"].value("name", std::string()) == "web")
        for (const auto& b : s.value("backends", json::array()))
          web_up += b.value("state", std::string()) == "up";
    if (web_up < 2) usleep(100 * 1000);
  }
  ASSERT_EQ(web_up, 2) << lb.Ctl("lb list lb-vm lb").output;

  // HTTP to the VIP: every request answered, by both servers.
  const std::string vip = bed.ip("100.10");
  std::map<std::string, int> answers;
  for (int i = 0; i < 40; ++i) {
    CommandResult c = bed.In("c", "curl -s --max-time 3 http://" + vip + "/", 10);
    EXPECT_EQ(c.exit_code, 0) << "request " << i << ": " << c.output;
    ++answers[c.output];
  }
  EXPECT_EQ(answers["hello from s1 (nginx)\n"] + answers["hello from s2 (python)\n"], 40);
  EXPECT_GT(answers["hello from s1 (nginx)\n"], 0);
  EXPECT_GT(answers["hello from s2 (python)\n"], 0);

  // Bulk TCP: iperf3 to the VIP (server 1) through all three VMs.
  r = bed.In("c", "iperf3 -c " + vip + " -t 3 -J", 30);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json iperf = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(iperf.is_discarded()) << r.output;
  const uint64_t received = iperf["end"]["sum_received"]["bytes"].get<uint64_t>();
  const double mbps = iperf["end"]["sum_received"]["bits_per_second"].get<double>() / 1e6;
  std::printf("iperf3 through fw-VM -> fm-VM -> lb-VM: %.0f Mbit/s, %.1f MB received\n", mbps,
              received / 1e6);
  EXPECT_GT(received, 10u << 20) << r.output;

  // The firewall VM rejects port 8081 with an RST from XDP: refused at once.
  r = bed.In("c", "curl -sS --max-time 3 http://" + bed.ip("11.2") + ":8081/", 10);
  EXPECT_EQ(r.exit_code, 7) << r.output;  // curl: could not connect (RST)

  // The orchestrator's stats watch: each VM's chain forwarded the traffic on
  // its XDP fast path (egress_redirect), and each VNF did its part.
  r = Orchestrator("watch --count 1 --interval-ms 200 --sfcd " + sfw + " fw-vm --sfcd " + sfm +
                   " fm-vm --sfcd " + slb + " lb-vm");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, json> snap;
  for (const auto& l : Lines(r.output)) snap[l["chain"].get<std::string>()] = l;
  ASSERT_EQ(snap.size(), 3u) << r.output;
  for (const char* c : names)
    EXPECT_GT(Counter(snap[c], "", "egress_redirect"), received / 1500) << snap[c];
  EXPECT_GT(Counter(snap["fw-vm"], "fw", "allow"), received / 1500);
  EXPECT_GE(Counter(snap["fw-vm"], "fw", "reject"), 1u);
  EXPECT_GE(Counter(snap["fm-vm"], "fm", "flows_created"), 41u);  // 40 HTTP + iperf3
  EXPECT_GT(Counter(snap["fm-vm"], "fm", "rx_bytes"), received);
  EXPECT_GT(Counter(snap["lb-vm"], "lb", "dnat"), received / 1500);
  EXPECT_GT(Counter(snap["lb-vm"], "lb", "snat"), 40u);  // replies got the VIP back

  // The orchestrator removes all three.
  r = Orchestrator("delete --sfcd " + sfw + " fw-vm --sfcd " + sfm + " fm-vm --sfcd " + slb +
                   " lb-vm");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace sfc::test
