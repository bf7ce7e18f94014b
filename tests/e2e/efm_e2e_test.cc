// eFM as a user runs it: real sfcd and sfcctl, real traffic between
// namespaces, bpftool on the pinned flow table, and nfcapd (nfdump) as the
// IPFIX collector reading back the same counts.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kUdpPackets = 10, kUdpPayload = 200, kUdpPort = 9999;
constexpr int kIpBytes = 20 + 8 + kUdpPayload;

class FlowmonE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sfc-efm-e2e-" + topo_.prefix();
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  }
  void TearDown() override {
    StopCollector();
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
    std::filesystem::remove_all(dir_);
  }

  std::string Spec(int collector_port) const {
    json ifs = json::array({{{"name", "eth0"}}, {{"name", "eth1"}}});
    json config = {{"idle_timeout_s", 4},
                   {"active_timeout_s", 60},
                   {"scan_interval_ms", 200},
                   {"ipfix",
                    {{"collectors", {"127.0.0.1:" + std::to_string(collector_port)}},
                     {"observation_domain", 5},
                     {"template_refresh_s", 5}}}};
    return json{{"name", "fm"},
                {"interfaces", ifs},
                {"vnfs", json::array({{{"name", "mon"}, {"type", "flowmon"}, {"config", config}}})},
                {"egress", {{"action", "fib"}}}}
        .dump();
  }

  void StartCollector(int port) {
    topo_.Spawn(topo_.vm_ns(), "nfcapd -w " + dir_ + " -p " + std::to_string(port) +
                                   " -b 127.0.0.1 -P " + dir_ + "/nfcapd.pid -t 3600");
    for (int i = 0; i < 50 && !std::filesystem::exists(dir_ + "/nfcapd.pid"); ++i)
      std::this_thread::sleep_for(milliseconds(100));
  }
  // nfcapd writes its file out when it terminates.
  void StopCollector() {
    std::ifstream in(dir_ + "/nfcapd.pid");
    pid_t pid = 0;
    if (!(in >> pid) || pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 50 && kill(pid, 0) == 0; ++i)
      std::this_thread::sleep_for(milliseconds(100));
    std::filesystem::remove(dir_ + "/nfcapd.pid");
  }

  json CtlJson(const std::string& args) { return sfcd_.CtlJson(args); }

  std::string dir_;
  Topology topo_{1};
  Sfcd sfcd_{topo_};
};

uint64_t U64(const json& j) {
  // proto3 JSON prints 64-bit integers as strings.
  return j.is_string() ? std::stoull(j.get<std::string>()) : j.get<uint64_t>();
}

TEST_F(FlowmonE2E, FlowsQueriedLiveAndExportedToNfcapd) {
  // Resolve neighbours before the chain exists, so the counted traffic below
  // is exactly what the test sends.
  topo_.In(topo_.client_ns(), "ping -c 1 -W 2 " + topo_.server_ip(1));
  topo_.In(topo_.client_ns(), "ping -6 -c 1 -W 2 " + topo_.server_ip6(1));
  const int port = 20000 + topo_.net() * 10;
  StartCollector(port);
  CommandResult r = sfcd_.Apply(Spec(port));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // A watcher streams records as they are exported (JSON Lines).
  const std::string watch_out = dir_ + "/watch.jsonl";
  topo_.Spawn(topo_.vm_ns(), "timeout 60 " + BuildDir() +
                                 "/cli/sfcctl --server unix:" + sfcd_.socket() +
                                 " flows fm --watch --proto udp -o json > " + watch_out + " 2>&1");
  std::this_thread::sleep_for(milliseconds(300));

  // Known traffic: 10 UDP datagrams client -> server, 3 IPv6 pings.
  CommandResult udp = topo_.In(
      topo_.client_ns(),
      "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
      "[s.sendto(b'x'*" +
          std::to_string(kUdpPayload) + ", ('" + topo_.server_ip(1) + "', " +
          std::to_string(kUdpPort) + ")) for _ in range(" + std::to_string(kUdpPackets) + ")]\"");
  ASSERT_EQ(udp.exit_code, 0) << udp.output;
  CommandResult ping =
      topo_.In(topo_.client_ns(), "ping -6 -c 3 -i 0.2 -W 1 " + topo_.server_ip6(1));
  ASSERT_EQ(ping.exit_code, 0) << ping.output;

  // Live: the scan interval is 200 ms, the idle timeout 4 s.
  std::this_thread::sleep_for(milliseconds(600));
  json listed = CtlJson("flows fm --proto udp --port " + std::to_string(kUdpPort) + " --top 5");
  ASSERT_EQ(listed["flows"].size(), 1u) << listed.dump(2);
  const json& f = listed["flows"][0];
  EXPECT_EQ(f["src"], topo_.client_ip());
  EXPECT_EQ(f["dst"], topo_.server_ip(1));
  EXPECT_EQ(f["dst_port"], kUdpPort);
  EXPECT_EQ(U64(f["packets"]), static_cast<uint64_t>(kUdpPackets));
  EXPECT_EQ(U64(f["bytes"]), static_cast<uint64_t>(kUdpPackets * kIpBytes));
  EXPECT_EQ(listed["vnf"], "mon");

  json by_packets = CtlJson("flows fm --sort packets");
  ASSERT_GE(by_packets["flows"].size(), 2u);
  EXPECT_GE(U64(by_packets["flows"][0]["packets"]), U64(by_packets["flows"][1]["packets"]));
  CommandResult table = sfcd_.Ctl("flows fm --top 3");
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find(topo_.server_ip(1) + ":" + std::to_string(kUdpPort)),
            std::string::npos)
      << table.output;

  // bpftool reads the pinned table by BTF field name.
  CommandResult dump = topo_.InVm("bpftool -j map dump pinned " + sfcd_.root() + "/fm/mon/flows");
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  json entries = json::parse(dump.output);
  bool found = false;
  for (const auto& e : entries) {
    const json& fe = e.contains("formatted") ? e["formatted"] : e;
    if (fe["key"]["proto"] == 17 && fe["value"]["packets"] == kUdpPackets) found = true;
  }
  EXPECT_TRUE(found) << dump.output.substr(0, 2000);

  // Errors name the field.
  CommandResult bad = sfcd_.Ctl("flows fm --prefix 10.0.0.0/40");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("prefix"), std::string::npos) << bad.output;
  CommandResult missing = sfcd_.Ctl("flows nosuch");
  EXPECT_EQ(missing.exit_code, 1);

  // Idle timeout: the flows end, leave the table and reach nfcapd. (Neighbour
  // discovery keeps making new IPv6 flows, so the table is never quite empty.)
  json summary, udp_left, ping_left;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(milliseconds(250));
    udp_left = CtlJson("flows fm --proto udp --port " + std::to_string(kUdpPort));
    ping_left = CtlJson("flows fm --proto ipv6-icmp --prefix " + topo_.server_ip6(1));
    summary = CtlJson("flows fm --summary");
    if (udp_left["flows"].empty() && ping_left["flows"].empty()) break;
  }
  EXPECT_TRUE(udp_left["flows"].empty()) << udp_left.dump(2);
  EXPECT_TRUE(ping_left["flows"].empty()) << ping_left.dump(2);
  EXPECT_GE(U64(summary["records_exported"]), 3u) << summary.dump(2);
  EXPECT_GE(U64(summary["packets_exported"]), static_cast<uint64_t>(kUdpPackets + 3));
  EXPECT_GT(U64(summary["ipfix_messages_sent"]), 0u);
  EXPECT_EQ(U64(summary["ipfix_send_errors"]), 0u);
  EXPECT_EQ(U64(summary["evictions"]), 0u);
  EXPECT_EQ(summary["vnf"], "mon");
  // The watcher saw the UDP flow end, and only UDP flows.
  std::ifstream watched(watch_out);
  bool watched_udp = false;
  for (std::string line; std::getline(watched, line);) {
    json rec = json::parse(line, nullptr, false);
    ASSERT_FALSE(rec.is_discarded()) << line;
    EXPECT_EQ(rec["flow"]["protocol"], 17) << line;
    if (rec["flow"]["dst_port"] == kUdpPort) {
      EXPECT_EQ(U64(rec["flow"]["packets"]), static_cast<uint64_t>(kUdpPackets)) << line;
      EXPECT_EQ(rec["end_reason"], "idle-timeout") << line;
      EXPECT_EQ(rec["end_reason_code"], 1) << line;
      watched_udp = true;
    }
  }
  EXPECT_TRUE(watched_udp) << "sfcctl flows --watch printed no record for the UDP flow";

  StopCollector();

  CommandResult nf = Sh("nfdump -R " + dir_ + " -q -N -o 'fmt:%pr|%sa|%da|%sp|%dp|%pkt|%byt'");
  ASSERT_EQ(nf.exit_code, 0) << nf.output;
  bool udp_ok = false, icmp6_ok = false;
  std::istringstream lines(nf.output);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> col;
    std::istringstream fields(line);
    for (std::string c; std::getline(fields, c, '|');) {
      c.erase(0, c.find_first_not_of(' '));
      c.erase(c.find_last_not_of(' ') + 1);
      col.push_back(c);
    }
    if (col.size() != 7) continue;
    if ((col[0] == "UDP" || col[0] == "17") && col[1] == topo_.client_ip() &&
        col[2] == topo_.server_ip(1) && col[4] == std::to_string(kUdpPort)) {
      EXPECT_EQ(col[5], std::to_string(kUdpPackets)) << line;
      EXPECT_EQ(col[6], std::to_string(kUdpPackets * kIpBytes)) << line;
      udp_ok = true;
    }
    if ((col[0] == "ICMP6" || col[0] == "IPv6-ICMP" || col[0] == "58") &&
        col[2] == topo_.server_ip6(1) && col[5] == "3")
      icmp6_ok = true;
  }
  EXPECT_TRUE(udp_ok) << nf.output;
  EXPECT_TRUE(icmp6_ok) << nf.output;

  // applicationId (IE 95) reaches the collector: 14 00 00 8b 30 00 00 (engine
  // 20 PANA-L7-PEN, ntop's PEN 35632, nDPI id 0 "Unknown": no dpi VNF runs in
  // this chain). nfdump 1.7.1 stores the field's bytes reversed and prints
  // them as "<last byte>..<bytes 3..0 as a number>", i.e. "0..2332033044"
  // (0x8b000014); docs/flowmon.md explains it.
  CommandResult raw = Sh("nfdump -R " + dir_ + " -q -o raw");
  ASSERT_EQ(raw.exit_code, 0) << raw.output;
  EXPECT_NE(raw.output.find("0..2332033044"), std::string::npos) << raw.output;
}

// sfcd restarts (and crashes): the data plane keeps counting, the new sfcd
// adopts the table and reports the same flow with every packet.
TEST_F(FlowmonE2E, FlowsSurviveSfcdRestartAndCrash) {
  json ifs = json::array({{{"name", "eth0"}}, {{"name", "eth1"}}});
  json config = {{"idle_timeout_s", 120}, {"active_timeout_s", 600}, {"scan_interval_ms", 200}};
  std::string spec =
      json{{"name", "fm"},
           {"interfaces", ifs},
           {"vnfs", json::array({{{"name", "mon"}, {"type", "flowmon"}, {"config", config}}})},
           {"egress", {{"action", "fib"}}}}
          .dump();
  CommandResult r = sfcd_.Apply(spec);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto send = [&](int n) {
    CommandResult c =
        topo_.In(topo_.client_ns(),
                 "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                 "s.bind(('', 40404)); [s.sendto(b'x'*64, ('" +
                     topo_.server_ip(1) + "', 7777)) for _ in range(" + std::to_string(n) + ")]\"");
    ASSERT_EQ(c.exit_code, 0) << c.output;
  };
  auto packets = [&]() -> uint64_t {
    for (int i = 0; i < 40; ++i) {  // until the new sfcd has scanned
      json j = CtlJson("flows fm --proto udp --port 7777");
      if (!j["flows"].empty()) return U64(j["flows"][0]["packets"]);
      std::this_thread::sleep_for(milliseconds(100));
    }
    return 0;
  };

  send(4);
  EXPECT_EQ(packets(), 4u);
  sfcd_.Stop();
  send(3);  // no daemon: XDP still counts
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  EXPECT_EQ(packets(), 7u);
  sfcd_.Kill9();
  send(2);
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  EXPECT_EQ(packets(), 9u);
  json summary = CtlJson("flows fm --summary");
  EXPECT_EQ(U64(summary["evictions"]), 0u) << summary.dump(2);
}

}  // namespace
}  // namespace sfc::test
