#include "common/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "common/log.h"

namespace sfc {
namespace {

struct Arming {
  failpoint::Action action;
  unsigned nth;  // 0: every hit
  unsigned hits = 0;
};

std::mutex g_mu;
std::map<std::string, Arming, std::less<>> g_armed;

}  // namespace

namespace failpoint {

void Arm(std::string_view name, Action action, unsigned nth) {
  std::lock_guard lock(g_mu);
  g_armed.insert_or_assign(std::string(name), Arming{action, nth});
}

void DisarmAll() {
  std::lock_guard lock(g_mu);
  g_armed.clear();
}

Status ArmFromEnvironment() {
  const char* env = std::getenv("SFC_FAILPOINTS");
  if (!env || !*env) return Status::Ok();
  std::string_view rest(env);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return InvalidArgument("SFC_FAILPOINTS: \"" + std::string(item) +
                             "\" is not NAME=error|crash[@N]");
    std::string_view name = item.substr(0, eq), what = item.substr(eq + 1);
    unsigned nth = 0;
    if (size_t at = what.find('@'); at != std::string_view::npos) {
      nth = static_cast<unsigned>(
          std::strtoul(std::string(what.substr(at + 1)).c_str(), nullptr, 10));
      what = what.substr(0, at);
      if (nth == 0)
        return InvalidArgument("SFC_FAILPOINTS: \"" + std::string(item) + "\": @N counts from 1");
    }
    Action action;
    if (what == "error")
      action = Action::kError;
    else if (what == "crash")
      action = Action::kCrash;
    else
      return InvalidArgument("SFC_FAILPOINTS: \"" + std::string(item) +
                             "\": action must be error or crash");
    Arm(name, action, nth);
    log::Warn(
        "failpoint.armed",
        {{"name", std::string(name)}, {"action", std::string(what)}, {"nth", std::to_string(nth)}});
  }
  return Status::Ok();
}

}  // namespace failpoint

Status Failpoint(std::string_view name) {
  failpoint::Action action;
  {
    std::lock_guard lock(g_mu);
    if (g_armed.empty()) return Status::Ok();
    auto it = g_armed.find(name);
    if (it == g_armed.end()) return Status::Ok();
    ++it->second.hits;
    if (it->second.nth && it->second.hits != it->second.nth) return Status::Ok();
    action = it->second.action;
  }
  if (action == failpoint::Action::kCrash) {
    log::Warn("failpoint.crash", {{"name", std::string(name)}});
    ::kill(::getpid(), SIGKILL);
  }
  return Internal("failpoint " + std::string(name));
}

}  // namespace sfc
