// The names nDPI gives applications and categories, and their ids: what a chain
// file's "app" and "app_category" fields resolve to, and what sfcctl shows for
// the ids the data plane carries in struct sfc_pkt (app, app_category).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sfc::dpi {

struct AppInfo {
  uint16_t id = 0;
  std::string name;      // nDPI's spelling: "HTTP", "TLS", "BitTorrent"
  uint8_t category = 0;  // nDPI's default category for the protocol
};

struct CategoryInfo {
  uint8_t id = 0;
  std::string name;  // "Web", "Download-FileTransfer-FileSharing", ...
};

// Built once from the linked nDPI library (no files read, no syscalls), then
// immutable and safe to share between threads.
class AppCatalog {
 public:
  static const AppCatalog& Get();

  // Case-insensitive lookups of nDPI's names. Id 0 is "Unknown" in both.
  std::optional<uint16_t> AppId(std::string_view name) const;
  std::optional<uint8_t> CategoryId(std::string_view name) const;

  // "Unknown" for 0; "app-<id>" / "category-<id>" for an id this nDPI does not
  // know (a flow labelled by a newer library, read back from a pinned map).
  std::string AppName(uint16_t id) const;
  std::string CategoryName(uint8_t id) const;

  const std::vector<AppInfo>& apps() const { return apps_; }
  const std::vector<CategoryInfo>& categories() const { return categories_; }
  const std::string& library_version() const { return version_; }

 private:
  AppCatalog();

  std::vector<AppInfo> apps_;             // ordered by id
  std::vector<CategoryInfo> categories_;  // ordered by id
  std::vector<int> app_index_;            // id -> index into apps_, -1 if none
  std::vector<int> category_index_;       // id -> index into categories_, -1 if none
  std::string version_;
};

}  // namespace sfc::dpi
