// dpi as a user runs it: real sfcd and sfcctl, real clients and servers in
// namespaces (curl -> nginx, openssl s_client -> s_server, dig -> dnsmasq,
// random bytes over nc), the flows classified by nDPI in sfcd and read back
// with sfcctl dpi; labels survive an sfcd restart and new flows are still
// classified after it.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kUnknownPort = 40123;

uint64_t U64(const json& j) {
  // proto3 JSON prints 64-bit integers as strings.
  return j.is_string() ? std::stoull(j.get<std::string>()) : j.get<uint64_t>();
}

class DpiE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sfc-dpi-e2e-" + topo_.prefix();
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
    const std::string s = topo_.server_ns(1);
    const std::string ip = topo_.server_ip(1);
    // nginx: one process, in the foreground, everything under dir_.
    std::ofstream(dir_ + "/nginx.conf")
        << "master_process off; daemon off; pid " << dir_ << "/nginx.pid; error_log " << dir_
        << "/nginx.err;\nevents {}\nhttp { access_log off; "
           "server { listen "
        << ip << ":80; location / { return 200 \"hello\\n\"; } location /big { root " << dir_
        << "/www; } } }\n";
    std::filesystem::create_directories(dir_ + "/www");
    ASSERT_EQ(Sh("head -c 4194304 /dev/urandom > " + dir_ + "/www/big").exit_code, 0);
    topo_.Spawn(s, "exec nginx -c " + dir_ + "/nginx.conf -p " + dir_ + " >/dev/null 2>&1");
    CommandResult cert =
        Sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=www.example.test -keyout " +
           dir_ + "/key.pem -out " + dir_ + "/cert.pem 2>&1");
    ASSERT_EQ(cert.exit_code, 0) << cert.output;
    topo_.Spawn(s, "exec openssl s_server -accept " + ip + ":443 -cert " + dir_ +
                       "/cert.pem -key " + dir_ + "/key.pem -www -quiet >/dev/null 2>&1");
    topo_.Spawn(s, "exec dnsmasq --no-daemon --conf-file=/dev/null --port 53 --listen-address " +
                       ip + " --bind-interfaces --no-resolv --no-hosts --address=/x.test/" +
                       AnswerIp() + " --pid-file=" + dir_ + "/dnsmasq.pid >/dev/null 2>&1");
    // Random bytes are swallowed by a listener that answers nothing.
    topo_.Spawn(s, "exec nc -k -l " + ip + " " + std::to_string(kUnknownPort) + " >/dev/null");
    // Neighbours resolved and servers up before the chain exists.
    topo_.In(topo_.client_ns(), "ping -c 1 -W 2 " + ip);
    bool up = false;
    for (int i = 0; i < 50 && !up; ++i) {
      up = topo_.In(topo_.client_ns(), "curl -s -m 1 http://" + ip + "/").output == "hello\n" &&
           topo_.In(topo_.client_ns(), "dig +short +time=1 +tries=1 @" + ip + " a.x.test").output ==
               AnswerIp() + "\n" &&
           topo_.In(s, "ss -ltn | grep -q ':443 '").exit_code == 0;
      if (!up) std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_TRUE(up) << "servers did not come up";
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
    std::filesystem::remove_all(dir_);
  }

  std::string AnswerIp() const { return "10." + std::to_string(topo_.net()) + ".99.1"; }

  std::string Spec() const {
    json dpi = {{"max_flows", 4096}, {"max_classifying", 1024}, {"idle_timeout_s", 600}};
    return json{{"name", "dpi"},
                {"interfaces", json::array({{{"name", "eth0"}}, {{"name", "eth1"}}})},
                {"vnfs", json::array({{{"name", "dpi"}, {"type", "dpi"}, {"config", dpi}}})},
                {"egress", {{"action", "fib"}}}}
        .dump();
  }

  void Http() {
    CommandResult r =
        topo_.In(topo_.client_ns(), "curl -s -m 5 http://" + topo_.server_ip(1) + "/");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, "hello\n");
  }

  // Flows of the dpi instance whose server-side port is `port` (the server
  // has the higher address: 10.N.11.2 > 10.N.1.2).
  std::vector<json> FlowsTo(const json& listing, int port) {
    std::vector<json> out;
    for (const auto& f : listing["flows"])
      if (f["port_hi"] == port && f["addr_hi"] == topo_.server_ip(1)) out.push_back(f);
    return out;
  }

  // Waits until `n` flows to `port` are no longer pending.
  json WaitDecided(int port, size_t n) {
    json listing;
    for (int i = 0; i < 50; ++i) {
      listing = sfcd_.CtlJson("dpi flows dpi --all");
      size_t decided = 0;
      for (const auto& f : FlowsTo(listing, port)) decided += f["state"] != "pending";
      if (decided >= n) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return listing;
  }

  std::string dir_;
  Topology topo_{1};
  Sfcd sfcd_{topo_};
};

TEST_F(DpiE2E, ClassifiesHttpTlsDnsLeavesUnknownAloneAndKeepsLabelsOverRestart) {
  CommandResult r = sfcd_.Apply(Spec());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string ip = topo_.server_ip(1);

  Http();
  r = topo_.In(topo_.client_ns(),
               "openssl s_client -connect " + ip +
                   ":443 -servername www.example.test -brief </dev/null 2>&1",
               10);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("CONNECTION ESTABLISHED"), std::string::npos) << r.output;
  r = topo_.In(topo_.client_ns(), "dig +short +time=2 +tries=1 @" + ip + " www.x.test");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, AnswerIp() + "\n");
  r = topo_.In(topo_.client_ns(),
               "head -c 4000 /dev/urandom | nc -N -w 2 " + ip + " " + std::to_string(kUnknownPort));
  ASSERT_EQ(r.exit_code, 0) << r.output;  // passed through, unknown or not

  json listing = WaitDecided(80, 1);
  listing = WaitDecided(443, 1);
  listing = WaitDecided(53, 1);
  listing = WaitDecided(kUnknownPort, 1);
  auto http = FlowsTo(listing, 80);
  ASSERT_EQ(http.size(), 1u) << listing.dump(2);
  EXPECT_EQ(http[0]["app"], "HTTP") << http[0].dump(2);
  EXPECT_EQ(http[0]["state"], "classified");
  EXPECT_EQ(http[0]["category"], "Web");
  EXPECT_EQ(http[0]["protocol_name"], "tcp");
  EXPECT_GE(U64(http[0]["packets"]), 5u);  // handshake, request, answer, close
  auto tls = FlowsTo(listing, 443);
  ASSERT_EQ(tls.size(), 1u) << listing.dump(2);
  // nDPI 4.2 names a TLS flow to a server it has no application for "TLS".
  EXPECT_EQ(tls[0]["app"], "TLS") << tls[0].dump(2);
  EXPECT_EQ(tls[0]["state"], "classified");
  auto dns = FlowsTo(listing, 53);
  ASSERT_EQ(dns.size(), 1u) << listing.dump(2);
  EXPECT_EQ(dns[0]["app"], "DNS") << dns[0].dump(2);
  EXPECT_EQ(dns[0]["protocol_name"], "udp");
  auto unknown = FlowsTo(listing, kUnknownPort);
  ASSERT_EQ(unknown.size(), 1u) << listing.dump(2);
  EXPECT_EQ(unknown[0]["app"], "Unknown") << unknown[0].dump(2);
  EXPECT_EQ(unknown[0]["state"], "given-up");
  EXPECT_EQ(unknown[0]["reason"], "max-packets");

  // The default listing is classified flows only; --app filters by name.
  json classified = sfcd_.CtlJson("dpi flows dpi");
  EXPECT_TRUE(FlowsTo(classified, kUnknownPort).empty());
  json only_http = sfcd_.CtlJson("dpi flows dpi --app http");
  ASSERT_EQ(only_http["flows"].size(), 1u) << only_http.dump(2);
  EXPECT_EQ(only_http["flows"][0]["app"], "HTTP");
  r = sfcd_.Ctl("dpi flows dpi --app NoSuchThing");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("NoSuchThing"), std::string::npos) << r.output;

  // Per application counters.
  json apps = sfcd_.CtlJson("dpi apps dpi");
  std::map<std::string, json> by_name;
  for (const auto& a : apps["apps"]) by_name[a["app"].get<std::string>()] = a;
  for (const char* name : {"HTTP", "TLS", "DNS", "Unknown"}) {
    ASSERT_TRUE(by_name.count(name)) << name << " missing: " << apps.dump(2);
    EXPECT_GE(U64(by_name[name]["flows"]), 1u) << name;
  }
  // Packets after the verdict are counted under the app (the DNS answer may
  // pass before the query's verdict is written: not checked).
  for (const char* name : {"HTTP", "TLS", "Unknown"})
    EXPECT_GT(U64(by_name[name]["bytes"]), 0u) << name;
  EXPECT_EQ(U64(by_name["HTTP"]["classified_total"]), 1u);
  EXPECT_GE(U64(apps["classified"]), 3u);
  EXPECT_GE(U64(apps["given_up"]), 1u);
  EXPECT_EQ(U64(apps["ring_full"]), 0u);
  r = sfcd_.Ctl("dpi apps dpi");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("HTTP"), std::string::npos) << r.output;
  std::printf("$ sfcctl dpi apps dpi\n%s", r.output.c_str());
  r = sfcd_.Ctl("dpi flows dpi --all");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::printf("$ sfcctl dpi flows dpi --all\n%s", r.output.c_str());
  r = sfcd_.Ctl("dpi protocols");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"HTTP", "TLS", "DNS", "BitTorrent"})
    EXPECT_NE(r.output.find(name), std::string::npos) << name;
  // The data plane's counters by name, through BTF.
  r = sfcd_.Ctl("stats dpi");
  EXPECT_NE(r.output.find("dpi_fed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("dpi_ring_full"), std::string::npos) << r.output;

  // Restart: the pinned flow table keeps its labels, the new classifier
  // reads the same ring buffer and classifies new flows.
  sfcd_.Stop();
  Http();  // classified by nobody while sfcd is away: fed into the ring
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  Http();
  listing = WaitDecided(80, 3);
  http = FlowsTo(listing, 80);
  ASSERT_EQ(http.size(), 3u) << listing.dump(2);
  for (const auto& f : http) EXPECT_EQ(f["app"], "HTTP") << f.dump(2);
  tls = FlowsTo(listing, 443);
  ASSERT_EQ(tls.size(), 1u);
  EXPECT_EQ(tls[0]["app"], "TLS");
}

// The firewall after dpi drops an application by name: the HTTP flow is
// classified from its request, and the rest of it (the 4 MB answer) is
// dropped, while DNS and TLS flows pass. The rule counts what it dropped.
TEST_F(DpiE2E, FirewallRuleByApplicationDropsThatApplicationOnly) {
  json dpi = {{"max_flows", 4096}, {"max_classifying", 1024}, {"idle_timeout_s", 600}};
  json fw = {{"default", "allow"},
             {"rules", json::array({{{"id", "no-http"}, {"app", "HTTP"}, {"action", "drop"}}})}};
  json spec = {{"name", "dpi"},
               {"interfaces", json::array({{{"name", "eth0"}}, {{"name", "eth1"}}})},
               {"vnfs", json::array({{{"name", "dpi"}, {"type", "dpi"}, {"config", dpi}},
                                     {{"name", "fw"}, {"type", "firewall"}, {"config", fw}}})},
               {"egress", {{"action", "fib"}}}};
  CommandResult r = sfcd_.Apply(spec.dump());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string ip = topo_.server_ip(1);

  r = topo_.In(topo_.client_ns(),
               "curl -s -o /dev/null -w '%{size_download}' -m 4 http://" + ip + "/big", 10);
  EXPECT_NE(r.exit_code, 0) << "the HTTP download went through: " << r.output;
  EXPECT_LT(std::stoull(r.output.empty() ? "0" : r.output), 4194304u) << r.output;

  r = topo_.In(topo_.client_ns(), "dig +short +time=2 +tries=1 @" + ip + " www.x.test");
  EXPECT_EQ(r.output, AnswerIp() + "\n") << "DNS must pass";
  r = topo_.In(topo_.client_ns(),
               "openssl s_client -connect " + ip +
                   ":443 -servername www.example.test -brief </dev/null 2>&1",
               10);
  EXPECT_NE(r.output.find("CONNECTION ESTABLISHED"), std::string::npos) << "TLS must pass";

  json listing = WaitDecided(80, 1);
  auto http = FlowsTo(listing, 80);
  ASSERT_EQ(http.size(), 1u) << listing.dump(2);
  EXPECT_EQ(http[0]["app"], "HTTP") << http[0].dump(2);
  json rules = sfcd_.CtlJson("fw list dpi fw");
  ASSERT_EQ(rules["rules"].size(), 1u) << rules.dump(2);
  EXPECT_GT(U64(rules["rules"][0]["packets"]), 0u) << rules.dump(2);
  r = sfcd_.Ctl("fw list dpi fw");
  EXPECT_NE(r.output.find("app=HTTP"), std::string::npos) << r.output;

  // sfcctl trace of a packet of that flow: the trace's copy of the flow table
  // has the label, dpi puts it on the packet, the firewall's rule drops it.
  r = sfcd_.Ctl("trace dpi 'tcp " + http[0]["addr_lo"].get<std::string>() + ":" +
                std::to_string(http[0]["port_lo"].get<int>()) + " > " + ip +
                ":80 flags A iif eth0'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no-http"), std::string::npos) << r.output;
  std::printf("$ sfcctl trace dpi ...\n%s", r.output.c_str());
}

}  // namespace
}  // namespace sfc::test
