#include "elb/health.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/fd.h"

namespace sfc::elb {
namespace {

TEST(HealthTracker, RiseAndFall) {
  HealthTracker t;
  EXPECT_TRUE(t.up());
  EXPECT_FALSE(t.Record(false, 2, 3));
  EXPECT_FALSE(t.Record(false, 2, 3));
  EXPECT_TRUE(t.up());
  EXPECT_TRUE(t.Record(false, 2, 3));  // third failure
  EXPECT_FALSE(t.up());
  EXPECT_FALSE(t.Record(true, 2, 3));
  EXPECT_FALSE(t.Record(false, 2, 3));  // streak broken
  EXPECT_FALSE(t.Record(true, 2, 3));
  EXPECT_TRUE(t.Record(true, 2, 3));
  EXPECT_TRUE(t.up());
  EXPECT_EQ(t.checks(), 7u);
  EXPECT_EQ(t.failures(), 4u);
}

TEST(HealthTracker, SuccessWhileUpResetsTheFallStreak) {
  HealthTracker t;
  t.Record(false, 1, 2);
  t.Record(true, 1, 2);
  EXPECT_FALSE(t.Record(false, 1, 2));
  EXPECT_TRUE(t.up());
  EXPECT_TRUE(t.Record(false, 1, 2));
  EXPECT_FALSE(t.up());
  EXPECT_TRUE(t.Record(true, 1, 2));  // rise 1
}

TEST(HttpStatus, Parses) {
  EXPECT_EQ(ParseHttpStatus("HTTP/1.1 200 OK\r\n"), 200u);
  EXPECT_EQ(ParseHttpStatus("HTTP/1.0 503 Service Unavailable\r\n"), 503u);
  EXPECT_EQ(ParseHttpStatus("HTTP/1.1 204\r\n"), 204u);
  EXPECT_EQ(ParseHttpStatus("HTTP/2 200"), 0u);
  EXPECT_EQ(ParseHttpStatus("SSH-2.0-OpenSSH"), 0u);
  EXPECT_EQ(ParseHttpStatus("HTTP/1.1 20"), 0u);
  EXPECT_EQ(ParseHttpStatus("HTTP/1.1 2000 x"), 0u);
}

TEST(HttpWeight, ParsesTheHeader) {
  EXPECT_EQ(ParseWeightHeader("HTTP/1.1 200 OK\r\nSfc-Weight: 40\r\n\r\n"), 40u);
  EXPECT_EQ(ParseWeightHeader("HTTP/1.1 200 OK\r\nServer: x\r\nsfc-weight:7%\r\n\r\n"), 7u);
  EXPECT_EQ(ParseWeightHeader("HTTP/1.1 200 OK\r\nSFC-WEIGHT: 0\r\n\r\n"), 0u);
  EXPECT_EQ(ParseWeightHeader("HTTP/1.1 200 OK\r\nSfc-Weight: 100\r\n"), 100u);
  EXPECT_FALSE(ParseWeightHeader("HTTP/1.1 200 OK\r\nSfc-Weight: 101\r\n\r\n"));
  EXPECT_FALSE(ParseWeightHeader("HTTP/1.1 200 OK\r\nSfc-Weight: -5\r\n\r\n"));
  EXPECT_FALSE(ParseWeightHeader("HTTP/1.1 200 OK\r\nSfc-Weight: ten\r\n\r\n"));
  EXPECT_FALSE(ParseWeightHeader("HTTP/1.1 200 OK\r\nX-Sfc-Weight: 10\r\n\r\n"));
  EXPECT_FALSE(ParseWeightHeader("HTTP/1.1 200 OK\r\n\r\n"));
}

// A loopback listener answering each connection with `reply` (or nothing).
class Listener {
 public:
  explicit Listener(std::string reply, bool v6 = false) : reply_(std::move(reply)) {
    fd_ = UniqueFd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof(*a);
    }
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&ss), len), 0);
    EXPECT_EQ(::listen(fd_.get(), 16), 0);
    EXPECT_EQ(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len), 0);
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~Listener() {
    stop_ = true;
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::string last_request() const { return last_request_; }

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept(fd_.get(), nullptr, nullptr);
      if (c < 0) return;
      UniqueFd conn(c);
      if (reply_.empty()) continue;
      char buf[1024];
      ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n > 0) last_request_.assign(buf, n);
      (void)!::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
    }
  }
  std::string reply_;
  UniqueFd fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::string last_request_;
  std::thread thread_;
};

ProbeTarget Target(const char* addr, uint16_t port, HealthType type) {
  ProbeTarget t;
  t.address = *IpAddr::Parse(addr);
  t.port = port;
  t.type = type;
  return t;
}

// A port with nothing listening: bind, note the port, close.
uint16_t ClosedPort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

TEST(Prober, TcpConnectAndRefused) {
  Listener l("");
  std::vector<ProbeTarget> t = {Target("127.0.0.1", l.port(), HealthType::kTcp),
                                Target("127.0.0.1", ClosedPort(), HealthType::kTcp)};
  auto r = ProbeAll(t, std::chrono::milliseconds(1000));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].ok) << r[0].error;
  EXPECT_FALSE(r[1].ok);
  EXPECT_NE(r[1].error.find("refused"), std::string::npos) << r[1].error;
}

TEST(Prober, HttpStatusIsChecked) {
  Listener good("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  Listener bad("HTTP/1.1 503 Service Unavailable\r\n\r\n");
  Listener junk("SSH-2.0-OpenSSH_9.2\r\n");
  Listener v6("HTTP/1.0 200 OK\r\n\r\n", true);
  std::vector<ProbeTarget> t = {Target("127.0.0.1", good.port(), HealthType::kHttp),
                                Target("127.0.0.1", bad.port(), HealthType::kHttp),
                                Target("127.0.0.1", junk.port(), HealthType::kHttp),
                                Target("::1", v6.port(), HealthType::kHttp)};
  t[0].path = "/healthz";
  auto r = ProbeAll(t, std::chrono::milliseconds(2000));
  EXPECT_TRUE(r[0].ok) << r[0].error;
  EXPECT_EQ(good.last_request().substr(0, 25), "GET /healthz HTTP/1.0\r\nHo");
  EXPECT_FALSE(r[1].ok);
  EXPECT_EQ(r[1].error, "status 503, expected 200");
  EXPECT_FALSE(r[2].ok);
  EXPECT_EQ(r[2].error, "not an HTTP response");
  EXPECT_TRUE(r[3].ok) << r[3].error;
}

TEST(Prober, ReadsTheReportedWeight) {
  Listener l("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSfc-Weight: 25\r\n\r\nok");
  Listener none("HTTP/1.1 200 OK\r\n\r\n");
  std::vector<ProbeTarget> t = {Target("127.0.0.1", l.port(), HealthType::kHttp),
                                Target("127.0.0.1", none.port(), HealthType::kHttp),
                                Target("127.0.0.1", l.port(), HealthType::kHttp)};
  t[0].want_weight = t[1].want_weight = true;
  auto r = ProbeAll(t, std::chrono::milliseconds(2000));
  EXPECT_TRUE(r[0].ok) << r[0].error;
  EXPECT_EQ(r[0].weight_percent, 25u);
  EXPECT_TRUE(r[1].ok);
  EXPECT_FALSE(r[1].weight_percent);
  EXPECT_FALSE(r[2].weight_percent) << "not asked for";
}

TEST(Prober, ClosedWithoutAnswer) {
  Listener hangup("");  // accepts and closes at once
  std::vector<ProbeTarget> t = {Target("127.0.0.1", hangup.port(), HealthType::kHttp)};
  auto r = ProbeAll(t, std::chrono::milliseconds(1000));
  EXPECT_FALSE(r[0].ok);
  EXPECT_FALSE(r[0].error.empty());
}

TEST(Prober, SilentServerTimesOut) {
  // Listening but never accepting: the kernel completes the handshake, the
  // request is queued, and no answer ever comes.
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), len), 0);
  ASSERT_EQ(::listen(fd.get(), 4), 0);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::vector<ProbeTarget> t = {Target("127.0.0.1", ntohs(a.sin_port), HealthType::kHttp)};
  auto start = std::chrono::steady_clock::now();
  auto r = ProbeAll(t, std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(r[0].ok);
  EXPECT_EQ(r[0].error, "timeout");
  EXPECT_GE(took, std::chrono::milliseconds(290));
  EXPECT_LT(took, std::chrono::milliseconds(1000));
}

}  // namespace
}  // namespace sfc::elb
