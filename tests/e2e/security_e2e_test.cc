// Security defaults through the real tools: file modes of the socket, state
// and pins; TCP only with TLS and mutual TLS enforced (openssl-made CAs,
// checked with sfcctl and openssl s_client); names that try to leave bpffs
// or the state directory are refused and create nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/e2e.h"

namespace sfc::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct Mode {
  bool ok = false;
  mode_t type = 0, perm = 0;
  uid_t uid = 0;
};

Mode Stat(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return {};
  return {true, static_cast<mode_t>(st.st_mode & S_IFMT), static_cast<mode_t>(st.st_mode & 07777),
          st.st_uid};
}

std::string Octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", m);
  return buf;
}

class SecurityE2E : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "--- sfcd log ---\n%s\n", sfcd_.log().c_str());
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  static std::string Spec(const json& name, const json& ifname = "eth0", const json& vnf = "n0") {
    return json{{"name", name},
                {"interfaces", json::array({ifname})},
                {"vnfs", json::array({{{"name", vnf}, {"type", "noop"}}})}}
        .dump();
  }

  Topology topo_{1};
  Sfcd sfcd_{topo_};
  std::string tmp_ = "/tmp/sfc-sec-" + topo_.prefix();
};

// Started with umask 0, sfcd still makes everything it creates private: the
// socket 0660, its new directory 0750, state and pin directories 0700.
TEST_F(SecurityE2E, FileModesDoNotDependOnUmask) {
  const std::string sock = tmp_ + "/run/sfcd.sock";
  const mode_t old = ::umask(0);
  const bool started = sfcd_.Start("--listen unix:" + sock);
  ::umask(old);
  ASSERT_TRUE(started) << sfcd_.log();
  ASSERT_EQ(sfcd_.Apply(Spec("web")).exit_code, 0);

  Mode m = Stat(sock);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.type, S_IFSOCK);
  EXPECT_EQ(Octal(m.perm), "0660");
  EXPECT_EQ(m.uid, 0u);
  m = Stat(tmp_ + "/run");
  EXPECT_EQ(Octal(m.perm), "0750") << "socket directory";
  EXPECT_EQ(m.uid, 0u);
  EXPECT_EQ(m.perm & S_IWOTH, 0u);

  for (const std::string& dir :
       std::vector<std::string>{sfcd_.state_dir(), sfcd_.state_dir() + "/chains", sfcd_.root(),
                                sfcd_.root() + "/web", sfcd_.root() + "/web/n0"}) {
    m = Stat(dir);
    ASSERT_TRUE(m.ok) << dir;
    EXPECT_EQ(m.type, S_IFDIR) << dir;
    EXPECT_EQ(Octal(m.perm), "0700") << dir;
  }
  // Saved specs and pins: nobody but root reads them.
  for (const std::string& dir : {sfcd_.state_dir(), sfcd_.root()}) {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_directory()) continue;
      EXPECT_EQ(Stat(e.path()).perm & 077, 0u) << e.path() << " " << Octal(Stat(e.path()).perm);
    }
  }
}

// A TCP listener without a certificate is refused at start, naming the flag.
TEST_F(SecurityE2E, PlainTcpListenIsRefused) {
  CommandResult r =
      topo_.InVm(BuildDir() + "/daemon/sfcd --bpffs-root " + sfcd_.root() + " --state-dir " +
                     sfcd_.state_dir() + " --listen 127.0.0.1:50551",
                 20);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(
      r.output.find("--listen 127.0.0.1:50551: a TCP listener requires --tls-cert and --tls-key"),
      std::string::npos)
      << r.output;
}

// Mutual TLS: only a client whose certificate the configured CA signed gets
// in; a client without a certificate, or with one from another CA, does not.
TEST_F(SecurityE2E, MutualTlsRefusesClientsWithoutTheRightCertificate) {
  fs::create_directories(tmp_);
  // Two CAs; server and client certificates from the first, a rogue client
  // certificate from the second.
  const std::string gen =
      "cd " + tmp_ +
      " && set -e\n"
      "for ca in ca rogue; do\n"
      "  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=$ca -keyout $ca.key -out "
      "$ca.pem\n"
      "done\n"
      "issue() {  # name CN CA ext\n"
      "  openssl req -newkey rsa:2048 -nodes -subj /CN=$2 -keyout $1.key -out $1.csr\n"
      "  printf '%s\\n' \"$4\" > $1.ext\n"
      "  openssl x509 -req -in $1.csr -CA $3.pem -CAkey $3.key -CAcreateserial -days 1 -extfile "
      "$1.ext -out "
      "$1.pem\n"
      "}\n"
      "issue server 127.0.0.1 ca 'subjectAltName=IP:127.0.0.1'\n"
      "issue client admin ca 'extendedKeyUsage=clientAuth'\n"
      "issue intruder admin rogue 'extendedKeyUsage=clientAuth'\n";
  CommandResult r = Sh(gen + " 2>&1", 60);
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const std::string addr = "127.0.0.1:50552";
  ASSERT_TRUE(sfcd_.Start("--listen " + addr + " --tls-cert " + tmp_ + "/server.pem --tls-key " +
                          tmp_ + "/server.key --tls-client-ca " + tmp_ + "/ca.pem"))
      << sfcd_.log();
  auto ctl = [&](const std::string& tls) {
    return topo_.InVm(BuildDir() + "/cli/sfcctl --server " + addr + " --tls-ca " + tmp_ +
                          "/ca.pem " + tls + " get chains",
                      20);
  };
  r = ctl("--tls-cert " + tmp_ + "/client.pem --tls-key " + tmp_ + "/client.key");
  EXPECT_EQ(r.exit_code, 0) << "right certificate: " << r.output;
  r = ctl("");
  EXPECT_NE(r.exit_code, 0) << "no certificate: " << r.output;
  r = ctl("--tls-cert " + tmp_ + "/intruder.pem --tls-key " + tmp_ + "/intruder.key");
  EXPECT_NE(r.exit_code, 0) << "rogue CA: " << r.output;

  // The same through openssl: a server that accepts the client answers the
  // HTTP/2 preface (its SETTINGS frame); one that refuses it closes without
  // a byte of application data. s_client -quiet prints only that data.
  auto received = [&](const std::string& cert) {
    CommandResult r = topo_.InVm(
        "(printf 'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'; sleep 1) | openssl s_client -quiet "
        "-no_ign_eof -connect " +
            addr + " -CAfile " + tmp_ + "/ca.pem -verify_return_error -alpn h2 " + cert +
            " 2>/dev/null | wc -c",
        20);
    return std::atol(r.output.c_str());
  };
  EXPECT_GT(received("-cert " + tmp_ + "/client.pem -key " + tmp_ + "/client.key"), 0);
  EXPECT_EQ(received(""), 0) << "no certificate";
  EXPECT_EQ(received("-cert " + tmp_ + "/intruder.pem -key " + tmp_ + "/intruder.key"), 0)
      << "rogue CA";

  // The Python client (clients/python, Debian's grpcio) over the same mutual TLS.
  auto py = [&](const std::string& cert) {
    return topo_.InVm("PYTHONPATH=" + BuildDir() + "/clients/python/gen:" + SourceDir() +
                          "/clients/python /usr/bin/python3 -m sfc_orchestrator status --tls-ca " +
                          tmp_ + "/ca.pem " + cert + " --sfcd " + addr + " 2>&1",
                      60);
  };
  r = py("--tls-cert " + tmp_ + "/client.pem --tls-key " + tmp_ + "/client.key");
  EXPECT_EQ(r.exit_code, 0) << "python, right certificate: " << r.output;
  EXPECT_NE(r.output.find("\"version\""), std::string::npos) << r.output;
  r = py("");
  EXPECT_NE(r.exit_code, 0) << "python, no certificate: " << r.output;
  r = py("--tls-cert " + tmp_ + "/intruder.pem --tls-key " + tmp_ + "/intruder.key");
  EXPECT_NE(r.exit_code, 0) << "python, rogue CA: " << r.output;

  // Plain gRPC to the TLS port gets nowhere.
  r = topo_.InVm("/usr/bin/python3 -c \"import grpc; c = grpc.insecure_channel('" + addr +
                     "'); grpc.channel_ready_future(c).result(timeout=3)\"",
                 20);
  EXPECT_NE(r.exit_code, 0) << r.output;
}

// Chain, VNF and interface names that would leave bpffs or the state
// directory are refused through the real API, naming the field, and nothing
// appears outside the daemon's root. sfcctl sends the file as is (no client
// check), so this is the daemon's own validation.
TEST_F(SecurityE2E, NamesCannotEscapeBpffsOrStateDir) {
  ASSERT_TRUE(sfcd_.Start()) << sfcd_.log();
  const std::string mark = "sfc-escaped-" + topo_.prefix();
  const std::vector<std::string> bad = {"../" + mark,
                                        "../../../../tmp/" + mark,
                                        "/tmp/" + mark,
                                        "a/" + mark,
                                        ".",
                                        "..",
                                        std::string(4096, 'a'),
                                        mark + " x",
                                        mark + "\nx",
                                        std::string(mark) + '\0' + "x",
                                        ""};
  const std::string good = "ok";
  int i = 0;
  for (const std::string& name : bad) {
    SCOPED_TRACE("name #" + std::to_string(i++) + ": " + json(name).dump().substr(0, 80));
    CommandResult r = sfcd_.Apply(Spec(name));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("/name"), std::string::npos) << r.output;
    r = sfcd_.Apply(Spec(good, "eth0", name));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("/vnfs/0/name"), std::string::npos) << r.output;
    r = sfcd_.Apply(Spec(good, name));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("/interfaces/0"), std::string::npos) << r.output;
  }
  // Interface names are shorter (15 bytes): the same tricks within that.
  for (const std::string& name :
       {std::string("eth0") + '\0' + "x", std::string("eth0\r"), std::string("eth\v0"),
        std::string("../eth0"), std::string("eth0:1")}) {
    SCOPED_TRACE("interface " + json(name).dump());
    CommandResult r = sfcd_.Apply(Spec(good, name));
    EXPECT_NE(r.exit_code, 0);
    // The name is quoted escaped, so the whole message reaches the user.
    EXPECT_NE(r.output.find("is not a valid interface name"), std::string::npos) << r.output;
  }
  // By-name calls that never parse a spec: delete, describe, stats.
  for (const std::string& name :
       {"../" + mark, std::string(".."), std::string("."), "/tmp/" + mark}) {
    for (const char* verb : {"delete chain ", "describe chain ", "stats "}) {
      CommandResult r = sfcd_.Ctl(verb + ("'" + name + "'"));
      EXPECT_NE(r.exit_code, 0) << verb << name << ": " << r.output;
    }
  }

  std::vector<std::string> root;
  for (const auto& e : fs::directory_iterator(sfcd_.root())) root.push_back(e.path().filename());
  EXPECT_TRUE(root.empty()) << testing::PrintToString(root);
  EXPECT_TRUE(fs::is_empty(sfcd_.state_dir() + "/chains"));
  CommandResult found =
      Sh("find /sys/fs/bpf /tmp /var/lib / -xdev -maxdepth 4 -name '" + mark + "*' 2>/dev/null");
  EXPECT_EQ(found.output, "") << "created outside the root";
  EXPECT_TRUE(fs::exists(sfcd_.root()) &&
              fs::exists(sfcd_.state_dir()));  // `..`/`.` deleted nothing
}

}  // namespace
}  // namespace sfc::test
