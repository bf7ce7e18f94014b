#include "elb/health.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/fd.h"

namespace sfc::elb {

bool HealthTracker::Record(bool success, uint32_t rise, uint32_t fall) {
  checks_++;
  if (!success) failures_++;
  if (success == up_) {
    streak_ = 0;
    return false;
  }
  streak_++;
  if (streak_ < (up_ ? fall : rise)) return false;
  up_ = !up_;
  streak_ = 0;
  return true;
}

uint32_t ParseHttpStatus(std::string_view r) {
  // "HTTP/1.1 200 OK"
  if (r.size() < 12 || r.substr(0, 7) != "HTTP/1." || r[8] != ' ') return 0;
  uint32_t code = 0;
  for (int i = 9; i < 12; i++) {
    if (r[i] < '0' || r[i] > '9') return 0;
    code = code * 10 + (r[i] - '0');
  }
  if (r.size() > 12 && r[12] != ' ' && r[12] != '\r') return 0;
  return code;
}

std::optional<uint32_t> ParseWeightHeader(std::string_view head) {
  constexpr std::string_view kName = "sfc-weight:";
  size_t pos = 0;
  while ((pos = head.find('\n', pos)) != std::string_view::npos) {
    std::string_view line = head.substr(++pos);
    line = line.substr(0, line.find('\n'));
    if (line.size() < kName.size()) continue;
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; i++)
      match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    if (!match) continue;
    std::string_view v = line.substr(kName.size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == '\r' || v.back() == ' ' || v.back() == '%'))
      v.remove_suffix(1);
    if (v.empty() || v.size() > 3) return std::nullopt;
    uint32_t n = 0;
    for (char ch : v) {
      if (ch < '0' || ch > '9') return std::nullopt;
      n = n * 10 + (ch - '0');
    }
    if (n > 100) return std::nullopt;
    return n;
  }
  return std::nullopt;
}

namespace {

// Response heads larger than this are not read further.
constexpr size_t kMaxHead = 4096;

enum class Phase { kConnecting, kSending, kReading, kDone };

struct Probe {
  const ProbeTarget* target = nullptr;
  ProbeResult* result = nullptr;
  std::chrono::steady_clock::time_point deadline;
  UniqueFd fd;
  Phase phase = Phase::kConnecting;
  std::string request;
  size_t sent = 0;
  std::string response;
};

void Finish(Probe& p, bool ok, std::string error) {
  p.result->ok = ok;
  p.result->error = std::move(error);
  p.phase = Phase::kDone;
  p.fd.reset();
}

std::string ErrnoText(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

void Start(Probe& p) {
  const ProbeTarget& t = *p.target;
  int family = t.address.family == 4 ? AF_INET : AF_INET6;
  p.fd = UniqueFd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!p.fd) return Finish(p, false, ErrnoText("socket", errno));
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(t.port);
    std::memcpy(&sin->sin_addr, t.address.bytes.data(), 4);
    len = sizeof(*sin);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(t.port);
    std::memcpy(&sin6->sin6_addr, t.address.bytes.data(), 16);
    len = sizeof(*sin6);
  }
  if (t.type == HealthType::kHttp) {
    std::string host = t.host.empty() ? (t.address.family == 6 ? "[" + t.address.ToString() + "]"
                                                               : t.address.ToString())
                                      : t.host;
    p.request = "GET " + t.path + " HTTP/1.0\r\nHost: " + host +
                "\r\nUser-Agent: sfcd-health\r\nConnection: close\r\n\r\n";
  }
  if (::connect(p.fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    p.phase = t.type == HealthType::kHttp ? Phase::kSending : Phase::kDone;
    if (p.phase == Phase::kDone) Finish(p, true, "");
    return;
  }
  if (errno != EINPROGRESS) return Finish(p, false, ErrnoText("connect", errno));
}

void Advance(Probe& p, short revents) {
  if (p.phase == Phase::kConnecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(p.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) return Finish(p, false, ErrnoText("connect", err));
    if (!(revents & POLLOUT)) return;
    if (p.target->type != HealthType::kHttp) return Finish(p, true, "");
    p.phase = Phase::kSending;
  }
  if (p.phase == Phase::kSending) {
    ssize_t n =
        ::send(p.fd.get(), p.request.data() + p.sent, p.request.size() - p.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      return Finish(p, false, ErrnoText("send", errno));
    }
    p.sent += n;
    if (p.sent == p.request.size()) p.phase = Phase::kReading;
    return;
  }
  if (p.phase == Phase::kReading) {
    char buf[512];
    ssize_t n = ::recv(p.fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      return Finish(p, false, ErrnoText("recv", errno));
    }
    p.response.append(buf, n);
    // The status line is all we need, or the whole head for the weight.
    bool complete =
        p.target->want_weight
            ? p.response.find("\r\n\r\n") != std::string::npos || p.response.size() >= kMaxHead
            : p.response.size() >= 12 || p.response.find('\n') != std::string::npos;
    if (n > 0 && !complete) return;
    uint32_t status = ParseHttpStatus(p.response);
    if (status == 0)
      return Finish(p, false,
                    n == 0 ? "connection closed before a status line" : "not an HTTP response");
    if (status != p.target->expect_status)
      return Finish(p, false,
                    "status " + std::to_string(status) + ", expected " +
                        std::to_string(p.target->expect_status));
    if (p.target->want_weight) p.result->weight_percent = ParseWeightHeader(p.response);
    return Finish(p, true, "");
  }
}

}  // namespace

std::vector<ProbeResult> ProbeAll(std::span<const ProbeTarget> targets,
                                  std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  std::vector<ProbeResult> results(targets.size());
  std::vector<Probe> probes;
  probes.reserve(targets.size());
  const auto start = Clock::now();
  for (size_t i = 0; i < targets.size(); i++) {
    Probe& p = probes.emplace_back();
    p.target = &targets[i];
    p.result = &results[i];
    p.deadline = start + (targets[i].timeout.count() > 0 ? targets[i].timeout : timeout);
    Start(p);
    if (p.phase == Phase::kDone)
      results[i].latency =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
  }

  std::vector<pollfd> pfds;
  std::vector<Probe*> owners;
  for (;;) {
    pfds.clear();
    owners.clear();
    const auto now = Clock::now();
    auto next_deadline = Clock::time_point::max();
    for (auto& p : probes) {
      if (p.phase == Phase::kDone) continue;
      if (now >= p.deadline) {
        Finish(p, false, "timeout");
        p.result->latency = std::chrono::duration_cast<std::chrono::microseconds>(now - start);
        continue;
      }
      next_deadline = std::min(next_deadline, p.deadline);
      short events = p.phase == Phase::kReading ? POLLIN : POLLOUT;
      pfds.push_back({p.fd.get(), events, 0});
      owners.push_back(&p);
    }
    if (pfds.empty()) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now);
    int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(left.count()) + 1);
    if (n < 0 && errno != EINTR) {
      int err = errno;
      for (Probe* p : owners) Finish(*p, false, ErrnoText("poll", err));
      break;
    }
    for (size_t i = 0; i < pfds.size() && n > 0; i++) {
      if (!pfds[i].revents) continue;
      Advance(*owners[i], pfds[i].revents);
      if (owners[i]->phase == Phase::kDone)
        owners[i]->result->latency =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    }
  }
  return results;
}

}  // namespace sfc::elb
