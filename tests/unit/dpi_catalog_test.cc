#include "dpi/app_catalog.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace sfc::dpi {
namespace {

TEST(DpiAppCatalog, KnowsNdpisNamesCaseInsensitively) {
  const AppCatalog& cat = AppCatalog::Get();
  ASSERT_GT(cat.apps().size(), 100u) << "nDPI knows a few hundred protocols";
  auto http = cat.AppId("http");
  ASSERT_TRUE(http.has_value());
  EXPECT_EQ(cat.AppName(*http), "HTTP");
  EXPECT_EQ(cat.AppId("HTTP"), http);
  ASSERT_TRUE(cat.AppId("BitTorrent").has_value());
  ASSERT_TRUE(cat.AppId("TLS").has_value());
  ASSERT_TRUE(cat.AppId("DNS").has_value());
  EXPECT_NE(*cat.AppId("TLS"), *cat.AppId("DNS"));
  EXPECT_FALSE(cat.AppId("no-such-protocol").has_value());
}

TEST(DpiAppCatalog, UnknownAndForeignIdsHaveNames) {
  const AppCatalog& cat = AppCatalog::Get();
  EXPECT_EQ(cat.AppName(0), "Unknown");
  EXPECT_EQ(cat.AppId("unknown"), uint16_t{0});
  EXPECT_EQ(cat.AppName(65535), "app-65535");
  EXPECT_EQ(cat.CategoryName(255), "category-255");
}

TEST(DpiAppCatalog, CategoriesRoundTrip) {
  const AppCatalog& cat = AppCatalog::Get();
  auto web = cat.CategoryId("web");
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(cat.CategoryName(*web), "Web");
  auto bt = cat.AppId("BitTorrent");
  ASSERT_TRUE(bt.has_value());
  const auto& apps = cat.apps();
  auto it = std::find_if(apps.begin(), apps.end(), [&](const AppInfo& a) { return a.id == *bt; });
  ASSERT_NE(it, apps.end());
  EXPECT_EQ(cat.CategoryName(it->category), "Download");
  EXPECT_FALSE(cat.library_version().empty());
}

}  // namespace
}  // namespace sfc::dpi
