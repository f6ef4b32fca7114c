#pragma once
// The dashboard's static files, compiled in (generated from src/downstream/ui).
#include <span>
#include <string_view>

namespace mcpgw::downstream {

struct UiAsset {
  std::string_view path;  ///< "/ui", "/ui/app.js", …
  std::string_view type;  ///< its Content-Type
  std::string_view body;
};

std::span<const UiAsset> ui_assets() noexcept;

}  // namespace mcpgw::downstream
