// The security gate's admin API: held approvals and tool pins, for an administrator with
// the admin token.
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

asio::awaitable<bool> HttpServer::Impl::admin(Conn& c, const Request& req,
                                              const std::string& path) {
  gate::Gate* g = relay_.gate();
  if (g == nullptr) {
    auto res = error_json(req, 404, "Not found: the security gate is off (gateway.security)");
    co_return co_await write(c, res);
  }
  if (g->admin_token().empty()) {
    auto res = error_json(req, 403,
                          fmt::format("Forbidden: the admin API is off; set the {} environment "
                                      "variable (gateway.security.adminTokenEnv) or "
                                      "gateway.security.adminTokenFile",
                                      g->config().admin_token_env));
    co_return co_await write(c, res);
  }
  const std::string_view token = access::bearer_value(req[http::field::authorization]);
  const std::string& want = g->admin_token();
  if (token.size() != want.size() || CRYPTO_memcmp(token.data(), want.data(), want.size()) != 0) {
    auto res =
        error_json(req, 401, "Unauthorized: send the admin token as Authorization: Bearer <token>");
    res.set(http::field::www_authenticate, "Bearer realm=\"mcpgw-admin\"");
    co_return co_await write(c, res);
  }
  if (path == "/admin/tools" || path == "/admin/tools/approve") {
    co_return co_await admin_tools(c, req, path, *g);
  }
  if (path == "/admin/approvals") {
    if (req.method() != http::verb::get) {
      auto res = error_json(req, 405, "Method not allowed: GET /admin/approvals");
      co_return co_await write(c, res);
    }
    json::object o;
    o["approvals"] = g->approvals().list();
    auto res = json_response(req, 200, json::serialize(o));
    co_return co_await write(c, res);
  }
  const std::string id = path.substr(std::string_view("/admin/approvals/").size());
  if (req.method() != http::verb::post) {
    auto res = error_json(req, 405, "Method not allowed: POST /admin/approvals/{id}");
    co_return co_await write(c, res);
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
    auto res = error_json(req, 400, "Bad request: expected {\"decision\": \"approve\"} or "
                         "{\"decision\": \"deny\"}");
    co_return co_await write(c, res);
  }
  const bool approve = *decision == "approve";
  if (!g->approvals().decide(id, approve)) {
    auto res = error_json(req, 404, fmt::format("Not found: no call waits for approval {}", id));
    co_return co_await write(c, res);
  }
  spdlog::info("gate: approval {} {} by an administrator", id, approve ? "approved" : "denied");
  json::object o;
  o["id"] = id;
  o["decision"] = std::string(*decision);
  auto res = json_response(req, 200, json::serialize(o));
  co_return co_await write(c, res);
}

asio::awaitable<bool> HttpServer::Impl::admin_tools(Conn& c, const Request& req,
                                                    const std::string& path, gate::Gate& g) {
  const auto& pins = g.pins();
  if (!pins) {
    auto res = error_json(req, 404, "Not found: tool pinning is off (no \"pin\" filter in "
                         "gateway.security.filters)");
    co_return co_await write(c, res);
  }
  const bool list = path == "/admin/tools";
  if (req.method() != (list ? http::verb::get : http::verb::post)) {
    auto res = error_json(req, 405, list ? "Method not allowed: GET /admin/tools"
                              : "Method not allowed: POST /admin/tools/approve");
    co_return co_await write(c, res);
  }
  if (list) {
    json::object o;
    o["tools"] = pins->list();
    auto res = json_response(req, 200, json::serialize(o));
    co_return co_await write(c, res);
  }
  boost::system::error_code ec;
  auto body = json::parse(req.body(), ec);
  const json::object* o = !ec ? body.if_object() : nullptr;
  const auto* server = o != nullptr ? o->if_contains("server") : nullptr;
  const auto* tool = o != nullptr ? o->if_contains("tool") : nullptr;
  if (server == nullptr || !server->is_string() || tool == nullptr || !tool->is_string()) {
    auto res = error_json(req, 400,
                          "Bad request: expected {\"server\": \"NAME\", \"tool\": \"TOOL\"} "
                          "(the server's own tool name)");
    co_return co_await write(c, res);
  }
  const std::string server_name(server->get_string());
  const std::string tool_name(tool->get_string());
  if (!pins->approve(server_name, tool_name)) {
    auto res = error_json(req, 404, fmt::format("Not found: {}/{} is not quarantined", server_name,
                                     tool_name));
    co_return co_await write(c, res);
  }
  spdlog::info("tool pins: {}/{} approved by an administrator; its new definition is pinned",
               server_name, tool_name);
  relay_.tools_changed(server_name);
  json::object out;
  out["server"] = server_name;
  out["tool"] = tool_name;
  out["status"] = "pinned";
  auto res = json_response(req, 200, json::serialize(out));
  co_return co_await write(c, res);
}

}  // namespace mcpgw::downstream
