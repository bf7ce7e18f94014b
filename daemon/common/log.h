// Structured logs: one line per event, logfmt (`ts=... level=info
// event=chain.applied chain=web generation=3`), never per packet.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sfc::log {

enum class Level { kDebug = 0, kInfo, kWarn, kError };

// Parses "debug|info|warn|error"; false on anything else.
bool ParseLevel(std::string_view text, Level* out);
void SetLevel(Level level);
bool Enabled(Level level);

using Fields = std::initializer_list<std::pair<std::string_view, std::string>>;

void Write(Level level, std::string_view event, Fields fields = {});
inline void Debug(std::string_view e, Fields f = {}) { Write(Level::kDebug, e, f); }
inline void Info(std::string_view e, Fields f = {}) { Write(Level::kInfo, e, f); }
inline void Warn(std::string_view e, Fields f = {}) { Write(Level::kWarn, e, f); }
inline void Error(std::string_view e, Fields f = {}) { Write(Level::kError, e, f); }

// Routes libbpf's and libxdp's own messages into this log (as debug/warn).
void CaptureLibraryLogs();

}  // namespace sfc::log
