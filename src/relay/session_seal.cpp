#include "relay/session_seal.hpp"

#include "relay/util.hpp"

namespace mcpgw::relay {

namespace {

constexpr std::string_view kPurpose = "mcp-session";
constexpr std::int64_t kFormat = 1;  ///< bumped when the fields change meaning

json::array to_array(const std::vector<std::string>& names) {
  json::array out;
  for (const auto& n : names) out.emplace_back(n);
  return out;
}

bool read_view(const json::value* v, std::vector<std::string>& out) {
  if (v == nullptr || !v->is_array()) return false;
  for (const auto& n : v->get_array()) {
    if (!n.is_string()) return false;
    out.emplace_back(n.get_string());
  }
  return true;
}

const json::object& object_at(const json::object& o, std::string_view key) {
  static const json::object kEmpty;
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? v->get_object() : kEmpty;
}

bool flag(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

}  // namespace

std::string seal_session(const Sealer& sealer, const SealedSession& state) {
  json::object o;
  o["f"] = kFormat;
  o["r"] = state.replica;
  o["t"] = state.opened_ms;
  o["x"] = state.transport == ClientTransport::legacy_sse ? "sse" : "http";
  o["e"] = state.endpoint;
  o["p"] = state.principal;
  o["s"] = state.scope_name;
  o["w"] = state.whole_view;
  o["1"] = state.single_server;
  o["i"] = state.isolated;
  o["v"] = to_array(state.view);
  o["pv"] = state.version;
  o["c"] = state.capabilities;
  o["ci"] = state.client_info;
  return sealer.seal(json::serialize(o), kPurpose);
}

std::optional<SealedSession> open_sealed_session(const Sealer& sealer, std::string_view id) {
  auto plain = sealer.open(id, kPurpose);
  if (!plain) return std::nullopt;
  boost::system::error_code ec;
  auto doc = json::parse(*plain, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  const auto& o = doc.get_object();
  const auto* format = o.if_contains("f");
  if (format == nullptr || !format->is_int64() || format->get_int64() != kFormat) {
    return std::nullopt;  // sealed by a release that wrote other fields
  }
  SealedSession s;
  s.replica = string_at(o, "r");
  if (const auto* t = o.if_contains("t"); t != nullptr && t->is_int64()) s.opened_ms = t->get_int64();
  s.transport = string_at(o, "x") == "sse" ? ClientTransport::legacy_sse
                                           : ClientTransport::streamable_http;
  s.endpoint = string_at(o, "e");
  s.principal = string_at(o, "p");
  s.scope_name = string_at(o, "s");
  s.whole_view = flag(o, "w");
  s.single_server = flag(o, "1");
  s.isolated = flag(o, "i");
  if (!read_view(o.if_contains("v"), s.view)) return std::nullopt;
  s.version = string_at(o, "pv");
  s.capabilities = object_at(o, "c");
  s.client_info = object_at(o, "ci");
  return s;
}

}  // namespace mcpgw::relay
