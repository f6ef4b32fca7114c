#pragma once
// Small helpers the relay's files share (not part of its interface).
#include "relay/relay.hpp"

#include <boost/json.hpp>

#include <string_view>

namespace mcpgw::relay {

using upstream::has_capability;
using upstream::info;

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

/// The gateway's own clientInfo, toward servers it talks to for many clients.
json::object gateway_client_info();

}  // namespace mcpgw::relay
