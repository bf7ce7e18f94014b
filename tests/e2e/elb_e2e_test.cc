// eLB as a user runs it: a real sfcd on the "VM" namespace, HTTP servers in
// two server namespaces, curl from the client to the VIP. Requests are
// DNAT-ed and routed by the chain's fib egress; replies come back through the
// chain and leave with the VIP as their source. Health checks take a stopped
// server out and bring it back; sfcctl lb drains and re-weights live;
// bpftool reads the counters from the pinned stats map.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kHttpPort = 8080;

class LoadBalancerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sfc-elb-e2e-" + topo_.prefix();
    for (int i = 1; i <= 2; i++) StartServer(i);
    ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
    // Neighbours resolved up front, so the fib egress forwards from the first packet.
    topo_.In(topo_.vm_ns(), "ping -c1 -W1 " + topo_.client_ip());
    for (int i = 1; i <= 2; i++) topo_.In(topo_.vm_ns(), "ping -c1 -W1 " + topo_.server_ip(i));
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Vip() const { return "10." + std::to_string(topo_.net()) + ".100.100"; }

  // An HTTP server in server namespace i whose pages name it ("s1", "s2").
  // `close_first`: a server that answers every request with its name and
  // closes at once, before the client does (like nginx without keep-alive),
  // instead of python's http.server, whose clients close first.
  void StartServer(int i, bool close_first = false) {
    std::string root = dir_ + "/s" + std::to_string(i);
    std::filesystem::create_directories(root);
    std::ofstream(root + "/index.html") << "s" << i << "\n";
    if (close_first) {
      std::ofstream(root + "/close_first.py") << R"(import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.listen(128)
page = b'HTTP/1.0 200 OK\r\n\r\n' + sys.argv[2].encode() + b'\n'
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(page)
    c.close()
)";
      pids_[i] = topo_.Spawn(topo_.server_ns(i), "exec python3 " + root + "/close_first.py " +
                                                     std::to_string(kHttpPort) + " s" +
                                                     std::to_string(i) + " >/dev/null 2>&1");
    } else {
      pids_[i] = topo_.Spawn(topo_.server_ns(i),
                             "exec python3 -m http.server " + std::to_string(kHttpPort) +
                                 " --bind 0.0.0.0 --directory " + root + " >/dev/null 2>&1");
    }
    for (int t = 0; t < 50; t++) {
      if (topo_
              .In(topo_.server_ns(i),
                  "curl -s -m 1 http://127.0.0.1:" + std::to_string(kHttpPort) + "/")
              .output.find("s" + std::to_string(i)) != std::string::npos)
        return;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << "HTTP server " << i << " did not start";
  }
  // By pid: a pattern would match the servers of every namespace on the host.
  void StopServer(int i) {
    if (pids_[i] <= 0) return;
    kill(pids_[i], SIGTERM);
    waitpid(pids_[i], nullptr, 0);
    pids_[i] = -1;
  }

  std::string Spec(const json& health) const {
    json backends = json::array();
    for (int i = 1; i <= 2; i++)
      backends.push_back({{"address", topo_.server_ip(i)}, {"port", kHttpPort}});
    json svc = {{"name", "web"},  {"vip", Vip()},      {"proto", "tcp"},      {"port", 80},
                {"mode", "dnat"}, {"table_size", 251}, {"backends", backends}};
    if (!health.is_null()) svc["health"] = health;
    json ifs = json::array({{{"name", "eth0"}}, {{"name", "eth1"}}, {{"name", "eth2"}}});
    return json{
        {"name", "lb"},
        {"interfaces", ifs},
        {"vnfs", json::array({{{"name", "lb"},
                               {"type", "loadbalancer"},
                               {"config", {{"max_connections", 65536}, {"services", {svc}}}}}})},
        {"egress", {{"action", "fib"}}}}
        .dump();
  }

  // One request per new connection; which server answered, "" on failure.
  std::string Get(int local_port) {
    CommandResult r = topo_.In(
        topo_.client_ns(),
        "curl -s -m 3 --local-port " + std::to_string(local_port) + " http://" + Vip() + "/", 10);
    if (r.exit_code != 0) return "";
    std::string body = r.output;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    return body;
  }

  std::map<std::string, int> Spread(int first_port, int n) {
    std::map<std::string, int> seen;
    for (int i = 0; i < n; i++) seen[Get(first_port + i)]++;
    return seen;
  }

  uint64_t StatsCounter(const std::string& name) {
    CommandResult r = topo_.InVm("bpftool -j map dump pinned " + sfcd_.root() + "/lb/lb/stats");
    json j = json::parse(r.output, nullptr, false);
    if (j.is_discarded() || j.empty()) {
      ADD_FAILURE() << r.output;
      return 0;
    }
    uint64_t sum = 0;
    for (const auto& cpu : j[0]["formatted"]["values"]) sum += cpu["value"][name].get<uint64_t>();
    return sum;
  }

  bool WaitFor(const std::function<bool()>& pred, int seconds = 10) {
    for (int i = 0; i < seconds * 10; i++) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }

  Topology topo_{2};
  Sfcd sfcd_{topo_};
  std::string dir_;
  std::map<int, pid_t> pids_;
};

TEST_F(LoadBalancerE2E, HttpThroughTheVipReachesBothServersAndRepliesComeFromTheVip) {
  CommandResult r = sfcd_.Apply(Spec(nullptr));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto seen = Spread(30000, 40);
  EXPECT_EQ(seen[""], 0) << "every request answered";
  EXPECT_GT(seen["s1"], 5);
  EXPECT_GT(seen["s2"], 5);

  // curl only accepts the answer if it came from the VIP: reverse NAT worked.
  // The counters say so too.
  EXPECT_GE(StatsCounter("new_conns"), 40u);
  EXPECT_GE(StatsCounter("dnat"), 40u * 3);  // SYN, ACK+request, ACKs, FIN...
  EXPECT_GE(StatsCounter("snat"), 40u * 2);
  EXPECT_EQ(StatsCounter("no_backend"), 0u);
}

TEST_F(LoadBalancerE2E, HealthChecksTakeAStoppedServerOutAndBringItBack) {
  json health = {{"type", "http"}, {"interval_ms", 200}, {"timeout_ms", 150},
                 {"rise", 2},      {"fall", 2},          {"path", "/index.html"}};
  CommandResult r = sfcd_.Apply(Spec(health));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  StopServer(1);
  EXPECT_TRUE(WaitFor([&] { return sfcd_.log().find("lb.backend_down") != std::string::npos; }))
      << "s1 should fail its checks";
  auto seen = Spread(32000, 20);
  EXPECT_EQ(seen["s2"], 20) << "new connections avoid the failed server";

  StartServer(1);
  EXPECT_TRUE(WaitFor([&] { return sfcd_.log().find("lb.backend_up") != std::string::npos; }));
  seen = Spread(33000, 30);
  EXPECT_GT(seen["s1"], 3) << "s1 is back";
  EXPECT_EQ(seen[""], 0);
}

// A restarted sfcd resumes the health it finds in the pinned maps: a server
// that was down stays out until it passes its checks again.
TEST_F(LoadBalancerE2E, HealthSurvivesADaemonRestart) {
  json health = {
      {"type", "tcp"}, {"interval_ms", 500}, {"timeout_ms", 300}, {"rise", 2}, {"fall", 4}};
  CommandResult r = sfcd_.Apply(Spec(health));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  StopServer(1);
  ASSERT_TRUE(WaitFor([&] { return sfcd_.log().find("lb.backend_down") != std::string::npos; }));

  sfcd_.Stop();
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  // Well within the 4 x 500 ms a fresh "up" would need to fail again.
  auto seen = Spread(38000, 20);
  EXPECT_EQ(seen["s2"], 20) << "the failed server came back with the restart";
  r = sfcd_.Ctl("-o json lb get lb lb web");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json svc = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(svc.is_discarded()) << r.output;
  for (const auto& b : svc["backends"])
    EXPECT_EQ(b["state"], b["address"] == topo_.server_ip(1) ? "down" : "up") << b.dump();
}

TEST_F(LoadBalancerE2E, SfcctlDrainsReweightsAndLists) {
  CommandResult r = sfcd_.Apply(Spec(nullptr));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  CommandResult help = sfcd_.Ctl("lb --help");
  ASSERT_EQ(help.exit_code, 0) << "sfcctl has no lb verb: " << help.output;

  r = sfcd_.Ctl("lb drain lb lb web " + topo_.server_ip(1));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("draining"), std::string::npos) << r.output;
  auto seen = Spread(34000, 20);
  EXPECT_EQ(seen["s2"], 20);

  r = sfcd_.Ctl("lb set-weight lb lb web " + topo_.server_ip(1) + " 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  seen = Spread(35000, 40);
  EXPECT_GT(seen["s1"], seen["s2"]) << "weight 3 against 1";

  // Bad input is refused, naming the field; exit code 1.
  r = sfcd_.Ctl("lb set-weight lb lb web " + topo_.server_ip(1) + " -1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("/weight: must not be negative"), std::string::npos) << r.output;

  r = sfcd_.Ctl("-o json lb list lb lb");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json list = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(list.is_discarded()) << r.output;
  uint64_t conns = 0;
  for (const auto& b : list["services"][0]["backends"]) {
    conns += std::stoull(b.value("connections", std::string("0")));
    EXPECT_EQ(b["state"], "up");
  }
  EXPECT_GE(conns, 60u);

  // A second service from a file (one entry of a chain file's "services"):
  // port 8080 of another VIP straight to server 2.
  std::string vip2 = "10." + std::to_string(topo_.net()) + ".100.101";
  std::string file = dir_ + "/svc.json";
  std::ofstream(file) << json{{"name", "direct"},
                              {"vip", vip2},
                              {"port", kHttpPort},
                              {"backends", {{{"address", topo_.server_ip(2)}}}}}
                             .dump();
  r = sfcd_.Ctl("lb add-service lb lb -f " + file);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("direct"), std::string::npos) << r.output;
  CommandResult got = topo_.In(
      topo_.client_ns(), "curl -s -m 3 http://" + vip2 + ":" + std::to_string(kHttpPort) + "/");
  EXPECT_EQ(got.output, "s2\n");
  r = sfcd_.Ctl("lb list lb lb");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("SERVICE"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tcp/" + vip2 + ":8080"), std::string::npos) << r.output;
  std::fprintf(stderr, "%s", r.output.c_str());

  // The edit is saved: it survives a daemon restart.
  sfcd_.Stop();
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  r = sfcd_.Ctl("-o json lb get lb lb web");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"weight\": 3"), std::string::npos) << r.output;
}

// The report of issue 10, as a user ran it: curl from fixed local ports
// 20000..20009 through the VIP, `sfcctl lb drain` of one server, the same loop
// again (the client reuses its ports, tcp_tw_reuse on). No new connection may
// reach the drained server; the other one counts every one of them. The
// closed connections then leave the connection table.
// curl cannot bind a port its own earlier connection holds in TIME_WAIT (it
// sets no SO_REUSEADDR), so the servers close first, as nginx without
// keep-alive does: TIME_WAIT is then on the servers' side, which accepts a
// new SYN for the same tuple.
TEST_F(LoadBalancerE2E, DrainHoldsWhenClientsReusePorts) {
  for (int i = 1; i <= 2; i++) {
    StopServer(i);
    StartServer(i, /*close_first=*/true);
  }
  ASSERT_EQ(topo_.In(topo_.client_ns(), "sysctl -qw net.ipv4.tcp_tw_reuse=1").exit_code, 0);
  json spec = json::parse(Spec(nullptr));
  spec["vnfs"][0]["config"]["tcp_close_timeout_s"] = 1;
  CommandResult r = sfcd_.Apply(spec.dump());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto seen = Spread(20000, 10);
  ASSERT_EQ(seen[""], 0) << "every request answered";
  // Drain the server that had more of them, so the second loop has ports to reuse.
  const int drained = seen["s1"] >= seen["s2"] ? 1 : 2, kept = 3 - drained;
  auto conns = [&](int server) -> uint64_t {
    CommandResult g = sfcd_.Ctl("-o json lb get lb lb web");
    json svc = json::parse(g.output, nullptr, false);
    EXPECT_FALSE(svc.is_discarded()) << g.output;
    if (svc.is_discarded()) return 0;
    for (const auto& b : svc["backends"])
      if (b["address"] == topo_.server_ip(server))
        return std::stoull(b.value("connections", std::string("0")));
    ADD_FAILURE() << "no backend " << topo_.server_ip(server) << " in " << g.output;
    return 0;
  };
  r = sfcd_.Ctl("lb drain lb lb web " + topo_.server_ip(drained));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const uint64_t drained_before = conns(drained), kept_before = conns(kept);

  seen = Spread(20000, 10);
  const std::string kept_name = "s" + std::to_string(kept);
  EXPECT_EQ(seen[kept_name], 10) << "s" << drained << " (drained) answered "
                                 << seen["s" + std::to_string(drained)] << " of 10";
  EXPECT_EQ(conns(drained), drained_before) << "new connections reached the drained server";
  EXPECT_EQ(conns(kept), kept_before + 10);

  // Every connection was closed (FIN both ways): none is left in the table
  // once the close timeout has passed.
  auto left = [&]() -> int {
    CommandResult d = topo_.InVm("bpftool -j map dump pinned " + sfcd_.root() + "/lb/lb/conntrack");
    json j = json::parse(d.output, nullptr, false);
    return j.is_array() ? static_cast<int>(j.size()) : -1;
  };
  EXPECT_TRUE(WaitFor([&] { return left() == 0; }, 10)) << left() << " connections left";
}

// A download in progress keeps its backend through a chain re-apply that
// re-weights the backends, and through a crash and restart of sfcd.
TEST_F(LoadBalancerE2E, ConnectionsSurviveReapplyAndDaemonCrash) {
  for (int i = 1; i <= 2; i++) {
    std::string blob = dir_ + "/s" + std::to_string(i) + "/blob";
    ASSERT_EQ(Sh("head -c 3000000 /dev/urandom > " + blob).exit_code, 0);
  }
  // A small receive window, so that curl's rate limit paces the transfer
  // instead of the socket buffers taking it in at once.
  ASSERT_EQ(
      topo_.In(topo_.client_ns(), "sysctl -qw net.ipv4.tcp_rmem='4096 16384 32768'").exit_code, 0);
  CommandResult r = sfcd_.Apply(Spec(nullptr));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string out = dir_ + "/download";
  pid_t curl = topo_.Spawn(topo_.client_ns(), "exec curl -s -m 30 --limit-rate 1M -o " + out +
                                                  " http://" + Vip() + "/blob");
  std::this_thread::sleep_for(milliseconds(800));
  // The server this download landed on gets weight 0 (drained), the other 5:
  // a lost connection table would send the rest of it to the other server.
  int serving = 0;
  for (int i = 1; i <= 2; i++)
    if (!topo_.In(topo_.server_ns(i), "ss -Htn state established '( sport = :8080 )'")
             .output.empty())
      serving = i;
  ASSERT_NE(serving, 0) << "no server has the download";

  json spec = json::parse(Spec(nullptr));
  auto& backends = spec["vnfs"][0]["config"]["services"][0]["backends"];
  backends[serving - 1]["weight"] = 0;
  backends[2 - serving]["weight"] = 5;
  r = sfcd_.Apply(spec.dump());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::this_thread::sleep_for(milliseconds(500));
  sfcd_.Kill9();
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();

  int status = 0;
  ASSERT_EQ(waitpid(curl, &status, 0), curl);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "curl status " << status;
  EXPECT_EQ(std::filesystem::file_size(out), 3000000u);
  // Byte for byte the serving server's file: it never switched mid-stream.
  EXPECT_EQ(Sh("cmp -s " + out + " " + dir_ + "/s" + std::to_string(serving) + "/blob").exit_code,
            0);
  EXPECT_EQ(StatsCounter("repicked_conns"), 0u);
}

// The split over many connections follows the weights: 1,000 connections
// (fixed client ports, so the outcome does not vary between runs) to backends
// weighted 1:3 land within ±10 % of 250:750.
TEST_F(LoadBalancerE2E, DistributionFollowsWeightsOver1000Connections) {
  json spec = json::parse(Spec(nullptr));
  auto& svc = spec["vnfs"][0]["config"]["services"][0];
  svc["table_size"] = 65537;
  svc["backends"][0]["weight"] = 1;
  svc["backends"][1]["weight"] = 3;
  CommandResult r = sfcd_.Apply(spec.dump());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto seen = Spread(40000, 1000);
  EXPECT_EQ(seen[""], 0) << "every request answered";
  // 1,000 connections from random source ports: s1's count is binomial
  // (n 1000, p 1/4, sigma 13.7). Bounds at 4 sigma fail by chance once in
  // ~16,000 runs. Ignoring weights (1:1, 500) is 14 sigma away; the weights
  // swapped (3:1, 750) further still.
  EXPECT_GE(seen["s1"], 195) << "s1 " << seen["s1"] << " s2 " << seen["s2"];
  EXPECT_LE(seen["s1"], 305) << "s1 " << seen["s1"] << " s2 " << seen["s2"];
  EXPECT_EQ(seen["s1"] + seen["s2"], 1000);
  EXPECT_GE(StatsCounter("new_conns"), 1000u);
}

// A long-lived connection keeps its backend when another backend is added
// (sfcctl lb add-backend, which swaps the Maglev table under it); new
// connections then use both.
TEST_F(LoadBalancerE2E, LongLivedConnectionSurvivesABackendBeingAdded) {
  std::string blob = dir_ + "/s1/blob";
  ASSERT_EQ(Sh("head -c 2000000 /dev/urandom > " + blob).exit_code, 0);
  ASSERT_EQ(
      topo_.In(topo_.client_ns(), "sysctl -qw net.ipv4.tcp_rmem='4096 16384 32768'").exit_code, 0);
  json spec = json::parse(Spec(nullptr));
  auto& backends = spec["vnfs"][0]["config"]["services"][0]["backends"];
  backends.erase(1);  // s1 only
  CommandResult r = sfcd_.Apply(spec.dump());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const std::string out = dir_ + "/download";
  pid_t curl = topo_.Spawn(topo_.client_ns(), "exec curl -s -m 30 --limit-rate 500K -o " + out +
                                                  " http://" + Vip() + "/blob");
  std::this_thread::sleep_for(milliseconds(800));
  r = sfcd_.Ctl("lb add-backend lb lb web " + topo_.server_ip(2) + " --port " +
                std::to_string(kHttpPort) + " --weight 10");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  int status = 0;
  ASSERT_EQ(waitpid(curl, &status, 0), curl);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "curl status " << status;
  EXPECT_EQ(Sh("cmp -s " + out + " " + blob).exit_code, 0) << "the download switched backends";
  auto seen = Spread(41000, 30);
  EXPECT_EQ(seen[""], 0);
  EXPECT_GT(seen["s2"], 15) << "the new backend takes new connections";
  EXPECT_EQ(StatsCounter("repicked_conns"), 0u);
}

// L2 DSR with the backend's MAC learned from the VM's neighbour table: the
// chain sits on the client side only and hands DSR frames to a redirect
// egress towards server 1, which holds the VIP on its loopback and answers
// the client directly (through the VM's kernel, not the chain).
TEST_F(LoadBalancerE2E, DsrWithTheMacFromTheNeighbourTable) {
  ASSERT_EQ(topo_.In(topo_.server_ns(1), "ip addr add " + Vip() + "/32 dev lo").exit_code, 0);
  ASSERT_EQ(topo_
                .In(topo_.server_ns(1),
                    "sysctl -qw net.ipv4.conf.all.rp_filter=0 "
                    "net.ipv4.conf.eth0.rp_filter=0")
                .exit_code,
            0);
  // The service port is the backend's: DSR does not rewrite L4.
  StopServer(1);
  pids_[1] = topo_.Spawn(topo_.server_ns(1),
                         "exec python3 -m http.server 80 --bind 0.0.0.0 "
                         "--directory " +
                             dir_ + "/s1 >/dev/null 2>&1");
  json svc = {{"name", "web"},
              {"vip", Vip()},
              {"port", 80},
              {"mode", "dsr"},
              {"dsr_tx", false},
              {"table_size", 251},
              {"backends", {{{"address", topo_.server_ip(1)}}}}};
  std::string spec =
      json{{"name", "lb"},
           {"interfaces", json::array({{{"name", "eth0"}}})},
           {"vnfs", json::array({{{"name", "lb"},
                                  {"type", "loadbalancer"},
                                  {"config", {{"max_connections", 65536}, {"services", {svc}}}}}})},
           {"egress", {{"action", "redirect"}, {"port", "eth1"}}}}
          .dump();
  CommandResult r = sfcd_.Apply(spec);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The VM resolved server 1 in SetUp; sfcd picks the MAC up within a second.
  EXPECT_TRUE(WaitFor([&] { return sfcd_.log().find("lb.backend_mac") != std::string::npos; }));
  bool answered = WaitFor([&] { return Get(36000 + rand() % 1000) == "s1"; });
  EXPECT_TRUE(answered) << "request over DSR, reply straight from the server";
  auto seen = Spread(37000, 10);
  EXPECT_EQ(seen["s1"], 10);
  EXPECT_GE(StatsCounter("dsr"), 10u);
  EXPECT_EQ(StatsCounter("dnat"), 0u);
}

}  // namespace
}  // namespace sfc::test
