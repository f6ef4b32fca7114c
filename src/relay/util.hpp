#pragma once
// Small helpers the relay's files share (not part of its interface).
#include "relay/relay.hpp"

#include <boost/json.hpp>

#include <string_view>

namespace mcpgw::relay {

/// What each aggregated list is called on the wire.
struct ListInfo {
  const char* method;      ///< the request
  const char* key;         ///< the result's array
  const char* capability;  ///< the server capability it needs
  const char* changed;     ///< the notification that invalidates it
};
inline constexpr ListInfo kLists[] = {
    {"tools/list", "tools", "tools", "notifications/tools/list_changed"},
    {"prompts/list", "prompts", "prompts", "notifications/prompts/list_changed"},
    {"resources/list", "resources", "resources", "notifications/resources/list_changed"},
    {"resources/templates/list", "resourceTemplates", "resources",
     "notifications/resources/list_changed"},
};
inline const ListInfo& info(ListKind k) { return kLists[static_cast<int>(k)]; }

/// The message's params object (made empty when absent or not an object).
inline json::object& params_of(json::object& msg) {
  json::value& p = msg["params"];
  if (!p.is_object()) {
    p = json::object();
  }
  return p.get_object();
}

inline std::string_view string_at(const json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_string()) {
    return v->get_string();
  }
  return {};
}

inline bool has_capability(const upstream::Backend& b, std::string_view cap) {
  return b.state() == upstream::BackendState::ready && b.info().capabilities.contains(cap);
}

/// The gateway's own clientInfo, toward servers it talks to for many clients.
json::object gateway_client_info();

}  // namespace mcpgw::relay
