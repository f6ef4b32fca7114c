// The admin API, for an administrator with the admin token: the security gate's held
// approvals and tool pins, and reloading the configuration.
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

std::optional<Response> HttpServer::Impl::refuse_token(const Request& req,
                                                       const std::string& want) {
  const std::string_view token = access::bearer_value(req[http::field::authorization]);
  if (token.size() == want.size() && CRYPTO_memcmp(token.data(), want.data(), want.size()) == 0) {
    return std::nullopt;
  }
  auto res =
      error_json(req, 401, "Unauthorized: send the admin token as Authorization: Bearer <token>");
  res.set(http::field::www_authenticate, "Bearer realm=\"mcpgw-admin\"");
  return res;
}

Response HttpServer::Impl::admin_reload(const Request& req) {
  // The token is the gate's when it is on; else read from the same settings (a reload may
  // turn the gate on, so the API must not need it).
  gate::Gate* g = relay_.gate();
  const std::string want = g != nullptr ? g->admin_token()
                                        : gate::read_admin_token(gw_.security.admin_token_env,
                                                                 gw_.security.admin_token_file);
  if (want.empty() || !reload_) {
    return error_json(req, 403,
                      fmt::format("Forbidden: the admin API is off; set the {} environment "
                                  "variable (gateway.security.adminTokenEnv) or "
                                  "gateway.security.adminTokenFile",
                                  gw_.security.admin_token_env));
  }
  if (auto refusal = refuse_token(req, want)) {
    return std::move(*refusal);
  }
  if (req.method() != http::verb::post) {
    return error_json(req, 405, "Method not allowed: POST /admin/reload");
  }
  const json::object outcome = reload_("admin API");
  const bool ok = outcome.at("ok").as_bool();
  return json_response(req, ok ? 200 : 422, json::serialize(outcome));
}

Response HttpServer::Impl::admin(const Request& req, const std::string& path) {
  gate::Gate* g = relay_.gate();
  if (g == nullptr) {
    return error_json(req, 404, "Not found: the security gate is off (gateway.security)");
  }
  if (g->admin_token().empty()) {
    return error_json(req, 403,
                          fmt::format("Forbidden: the admin API is off; set the {} environment "
                                      "variable (gateway.security.adminTokenEnv) or "
                                      "gateway.security.adminTokenFile",
                                      g->config().admin_token_env));
  }
  if (auto refusal = refuse_token(req, g->admin_token())) {
    return std::move(*refusal);
  }
  if (path == "/admin/tools" || path == "/admin/tools/approve") {
    return admin_tools(req, path, *g);
  }
  if (path == "/admin/approvals") {
    if (req.method() != http::verb::get) {
      return error_json(req, 405, "Method not allowed: GET /admin/approvals");
    }
    json::object o;
    o["approvals"] = g->approvals().list();
    return json_response(req, 200, json::serialize(o));
  }
  const std::string id = path.substr(std::string_view("/admin/approvals/").size());
  if (req.method() != http::verb::post) {
    return error_json(req, 405, "Method not allowed: POST /admin/approvals/{id}");
  }
  boost::system::error_code ec;
  auto body = json::parse(req.body(), ec);
  const json::string* decision = nullptr;
  if (!ec && body.is_object()) {
    if (const auto* d = body.get_object().if_contains("decision"); d != nullptr && d->is_string()) {
      decision = &d->get_string();
    }
  }
  if (decision == nullptr || (*decision != "approve" && *decision != "deny")) {
    return error_json(req, 400, "Bad request: expected {\"decision\": \"approve\"} or "
                         "{\"decision\": \"deny\"}");
  }
  const bool approve = *decision == "approve";
  if (!g->approvals().decide(id, approve)) {
    return error_json(req, 404, fmt::format("Not found: no call waits for approval {}", id));
  }
  spdlog::info("gate: approval {} {} by an administrator", id, approve ? "approved" : "denied");
  json::object o;
  o["id"] = id;
  o["decision"] = std::string(*decision);
  return json_response(req, 200, json::serialize(o));
}

Response HttpServer::Impl::admin_tools(const Request& req, const std::string& path,
                                       gate::Gate& g) {
  const auto& pins = g.pins();
  if (!pins) {
    return error_json(req, 404, "Not found: tool pinning is off (no \"pin\" filter in "
                         "gateway.security.filters)");
  }
  const bool list = path == "/admin/tools";
  if (req.method() != (list ? http::verb::get : http::verb::post)) {
    return error_json(req, 405, list ? "Method not allowed: GET /admin/tools"
                              : "Method not allowed: POST /admin/tools/approve");
  }
  if (list) {
    json::object o;
    o["tools"] = pins->list();
    return json_response(req, 200, json::serialize(o));
  }
  boost::system::error_code ec;
  auto body = json::parse(req.body(), ec);
  const json::object* o = !ec ? body.if_object() : nullptr;
  const auto* server = o != nullptr ? o->if_contains("server") : nullptr;
  const auto* tool = o != nullptr ? o->if_contains("tool") : nullptr;
  if (server == nullptr || !server->is_string() || tool == nullptr || !tool->is_string()) {
    return error_json(req, 400,
                          "Bad request: expected {\"server\": \"NAME\", \"tool\": \"TOOL\"} "
                          "(the server's own tool name)");
  }
  const std::string server_name(server->get_string());
  const std::string tool_name(tool->get_string());
  if (!pins->approve(server_name, tool_name)) {
    return error_json(req, 404, fmt::format("Not found: {}/{} is not quarantined", server_name,
                                     tool_name));
  }
  spdlog::info("tool pins: {}/{} approved by an administrator; its new definition is pinned",
               server_name, tool_name);
  relay_.tools_changed(server_name);
  json::object out;
  out["server"] = server_name;
  out["tool"] = tool_name;
  out["status"] = "pinned";
  return json_response(req, 200, json::serialize(out));
}

}  // namespace mcpgw::downstream
