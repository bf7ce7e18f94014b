#include "dpi/app_catalog.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include <ndpi_api.h>

namespace sfc::dpi {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct ModuleDeleter {
  void operator()(ndpi_detection_module_struct* m) const { ndpi_exit_detection_module(m); }
};

}  // namespace

const AppCatalog& AppCatalog::Get() {
  static const AppCatalog catalog;
  return catalog;
}

AppCatalog::AppCatalog() {
  std::unique_ptr<ndpi_detection_module_struct, ModuleDeleter> mod(
      ndpi_init_detection_module(ndpi_no_prefs));
  if (mod) {
    NDPI_PROTOCOL_BITMASK all;
    NDPI_BITMASK_SET_ALL(all);
    ndpi_set_protocol_detection_bitmask2(mod.get(), &all);
    ndpi_finalize_initialization(mod.get());

    const ndpi_proto_defaults_t* defaults = ndpi_get_proto_defaults(mod.get());
    const unsigned n = ndpi_get_num_supported_protocols(mod.get());
    for (unsigned id = 0; id < n && id <= UINT16_MAX; ++id) {
      const char* name = defaults[id].protoName;
      if (name == nullptr || *name == '\0') continue;
      apps_.push_back(
          {static_cast<uint16_t>(id), name, static_cast<uint8_t>(defaults[id].protoCategory)});
    }
    for (int id = 0; id < NDPI_PROTOCOL_NUM_CATEGORIES && id <= UINT8_MAX; ++id) {
      const char* name =
          ndpi_category_get_name(mod.get(), static_cast<ndpi_protocol_category_t>(id));
      if (name == nullptr || *name == '\0') continue;
      // Unused custom and reserved slots have numbered placeholder names.
      categories_.push_back({static_cast<uint8_t>(id), name});
    }
  }
  const char* rev = ndpi_revision();
  version_ = rev != nullptr ? rev : "";

  app_index_.assign(apps_.empty() ? 1 : apps_.back().id + 1, -1);
  for (size_t i = 0; i < apps_.size(); ++i) app_index_[apps_[i].id] = static_cast<int>(i);
  category_index_.assign(categories_.empty() ? 1 : categories_.back().id + 1, -1);
  for (size_t i = 0; i < categories_.size(); ++i) {
    category_index_[categories_[i].id] = static_cast<int>(i);
  }
}

std::optional<uint16_t> AppCatalog::AppId(std::string_view name) const {
  for (const AppInfo& app : apps_) {
    if (EqualsIgnoreCase(app.name, name)) return app.id;
  }
  return std::nullopt;
}

std::optional<uint8_t> AppCatalog::CategoryId(std::string_view name) const {
  for (const CategoryInfo& cat : categories_) {
    if (EqualsIgnoreCase(cat.name, name)) return cat.id;
  }
  return std::nullopt;
}

std::string AppCatalog::AppName(uint16_t id) const {
  if (id < app_index_.size() && app_index_[id] >= 0) return apps_[app_index_[id]].name;
  return id == 0 ? "Unknown" : "app-" + std::to_string(id);
}

std::string AppCatalog::CategoryName(uint8_t id) const {
  if (id < category_index_.size() && category_index_[id] >= 0) {
    return categories_[category_index_[id]].name;
  }
  return id == 0 ? "Unknown" : "category-" + std::to_string(id);
}

}  // namespace sfc::dpi
