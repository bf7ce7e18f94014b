#include "common/log.h"

#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace sfc::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::mutex g_mu;

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}

// Quote a logfmt value when it holds spaces, quotes or '='.
std::string Quote(std::string_view v) {
  bool plain = !v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') plain = false;
  if (plain) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

int LibraryPrint(Level level, const char* lib, const char* fmt, va_list args) {
  if (!Enabled(level)) return 0;
  char buf[1024];
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  std::string msg(buf,
                  n > 0 && static_cast<size_t>(n) < sizeof(buf) ? n : strnlen(buf, sizeof(buf)));
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  Write(level, lib, {{"msg", msg}});
  return n;
}

int LibbpfPrint(enum libbpf_print_level l, const char* fmt, va_list args) {
  return LibraryPrint(l == LIBBPF_WARN ? Level::kWarn : Level::kDebug, "libbpf", fmt, args);
}

int LibxdpPrint(enum libxdp_print_level l, const char* fmt, va_list args) {
  // libxdp reports its dispatcher fallback at info level; it matters to users.
  Level level = l == LIBXDP_WARN ? Level::kWarn : l == LIBXDP_INFO ? Level::kInfo : Level::kDebug;
  return LibraryPrint(level, "libxdp", fmt, args);
}

}  // namespace

bool ParseLevel(std::string_view t, Level* out) {
  if (t == "debug")
    *out = Level::kDebug;
  else if (t == "info")
    *out = Level::kInfo;
  else if (t == "warn" || t == "warning")
    *out = Level::kWarn;
  else if (t == "error")
    *out = Level::kError;
  else
    return false;
  return true;
}

void SetLevel(Level level) { g_level = level; }
bool Enabled(Level level) { return level >= g_level.load(); }

void Write(Level level, std::string_view event, Fields fields) {
  if (!Enabled(level)) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = ms / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[64];
  std::snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ms % 1000));
  std::string line =
      std::string("ts=") + ts + " level=" + LevelName(level) + " event=" + Quote(event);
  for (const auto& [k, v] : fields) line += " " + std::string(k) + "=" + Quote(v);
  line += "\n";
  std::lock_guard<std::mutex> lock(g_mu);
  std::fputs(line.c_str(), stderr);
}

void CaptureLibraryLogs() {
  libbpf_set_print(LibbpfPrint);
  libxdp_set_print(LibxdpPrint);
}

}  // namespace sfc::log
