// The admin API, for an administrator with the admin token: the security gate's held
// approvals and tool pins, reloading the configuration, and the read-only views the dashboard
// shows (admin_views.cpp). Each change an administrator makes, and each refused token, leaves
// an audit row.
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

const std::string& HttpServer::Impl::admin_token() const {
  // The gate's when it is on; else read from the same settings (a reload may turn the gate
  // on, so the admin API must not need it).
  const gate::Gate* g = relay_.gate();
  return g != nullptr ? g->admin_token() : settings_admin_token_;
}

void HttpServer::Impl::audit_admin(const Request& req, const std::string& path,
                                   std::string outcome, std::string detail) {
  access::AuditLog* log = relay_.audit_log();
  if (log == nullptr) {
    return;
  }
  access::AuditRecord r;
  r.ts_ms = unix_ms();
  r.principal = outcome == "denied" ? "-" : "admin";
  r.method = "admin";
  r.target = fmt::format("{} {}", std::string_view(req.method_string()), path);
  r.outcome = std::move(outcome);
  r.detail = std::move(detail);
  r.bytes_in = static_cast<std::int64_t>(req.body().size());
  log->record(std::move(r));
}

asio::awaitable<Response> HttpServer::Impl::admin(const Request& req, const std::string& path,
                                                  const boost::urls::url_view& target) {
  const std::string& token = admin_token();
  if (token.empty()) {
    co_return error_json(req, 403,
                      fmt::format("Forbidden: the admin API is off; set the {} environment "
                                  "variable (gateway.security.adminTokenEnv) or "
                                  "gateway.security.adminTokenFile",
                                  gw_.security.admin_token_env));
  }
  if (auto refusal = refuse_token(req, token)) {
    audit_admin(req, path, "denied", "not the admin token");
    co_return std::move(*refusal);
  }
  if (path == "/admin/reload") {
    co_return admin_reload(req, path);
  }
  if (auto view = admin_view(req, path, target)) {
    co_return std::move(*view);
  }
  if (path == "/admin/approvals" || path.rfind("/admin/approvals/", 0) == 0 ||
      path == "/admin/tools" || path == "/admin/tools/approve") {
    gate::Gate* g = relay_.gate();
    if (g == nullptr) {
      co_return error_json(req, 404, "Not found: the security gate is off (gateway.security)");
    }
    if (path.rfind("/admin/tools", 0) == 0) {
      co_return admin_tools(req, path, *g);
    }
    co_return co_await admin_approvals(req, path, *g);
  }
  co_return error_json(req, 404,
                    "Not found: the admin API has /admin/servers, /admin/sessions, /admin/keys, "
                    "/admin/audit, /admin/approvals, /admin/tools and /admin/reload");
}

Response HttpServer::Impl::admin_reload(const Request& req, const std::string& path) {
  if (!reload_) {
    return error_json(req, 403, "Forbidden: this gateway cannot reload its configuration");
  }
  if (req.method() != http::verb::post) {
    return error_json(req, 405, "Method not allowed: POST /admin/reload");
  }
  json::object outcome = reload_("admin API");
  const bool ok = outcome.at("ok").as_bool();
  const auto* error = outcome.if_contains("error");
  audit_admin(req, path, ok ? "ok" : "error",
              error != nullptr && error->is_string() ? std::string(error->get_string()) : "");
  return json_response(req, ok ? 200 : 422, json::serialize(outcome));
}

asio::awaitable<Response> HttpServer::Impl::admin_approvals(const Request& req,
                                                            const std::string& path,
                                                            gate::Gate& g) {
  if (path != "/admin/approvals") {
    co_return co_await admin_decide(req, path, g);
  }
  if (req.method() != http::verb::get) {
    co_return error_json(req, 405, "Method not allowed: GET /admin/approvals");
  }
  json::object o;
  std::optional<json::array> every;
  if (const auto shared = relay_.shared_approvals()) {
    every = co_await shared->list();  // this replica's are among them
  }
  o["approvals"] = every ? std::move(*every) : g.approvals().list();
  co_return json_response(req, 200, json::serialize(o));
}

asio::awaitable<Response> HttpServer::Impl::admin_decide(const Request& req,
                                                         const std::string& path,
                                                         gate::Gate& g) {
  const std::string id = path.substr(std::string_view("/admin/approvals/").size());
  if (req.method() != http::verb::post) {
    co_return error_json(req, 405, "Method not allowed: POST /admin/approvals/{id}");
  }
  const std::string decision = string_field(req.body(), "decision");
  if (decision != "approve" && decision != "deny") {
    co_return error_json(req, 400, "Bad request: expected {\"decision\": \"approve\"} or "
                            "{\"decision\": \"deny\"}");
  }
  const bool approve = decision == "approve";
  bool decided = g.approvals().decide(id, approve);
  std::string where = "here";
  if (!decided) {
    if (const auto shared = relay_.shared_approvals()) {  // held by another replica?
      const auto r = co_await shared->decide(id, approve);
      if (r == gate::SharedApprovals::Decided::unreachable) {
        audit_admin(req, path, "error", "the shared state (Redis) cannot be reached");
        co_return error_json(req, 503, "Service Unavailable: the approvals of other replicas "
                                       "are in Redis, which cannot be reached");
      }
      decided = r == gate::SharedApprovals::Decided::written;
      where = "for the replica that holds it";
    }
  }
  if (!decided) {
    audit_admin(req, path, "error", "no call waits for this approval");
    co_return error_json(req, 404, fmt::format("Not found: no call waits for approval {}", id));
  }
  spdlog::info("gate: approval {} {} by an administrator ({})", id,
               approve ? "approved" : "denied", where);
  audit_admin(req, path, "ok", decision);
  json::object o;
  o["id"] = id;
  o["decision"] = decision;
  co_return json_response(req, 200, json::serialize(o));
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
  const std::string server = string_field(req.body(), "server");
  const std::string tool = string_field(req.body(), "tool");
  if (server.empty() || tool.empty()) {
    return error_json(req, 400,
                          "Bad request: expected {\"server\": \"NAME\", \"tool\": \"TOOL\"} "
                          "(the server's own tool name)");
  }
  if (!pins->approve(server, tool)) {
    audit_admin(req, path, "error", fmt::format("{}/{} is not quarantined", server, tool));
    return error_json(req, 404, fmt::format("Not found: {}/{} is not quarantined", server, tool));
  }
  spdlog::info("tool pins: {}/{} approved by an administrator; its new definition is pinned",
               server, tool);
  audit_admin(req, path, "ok", fmt::format("{}/{} pinned", server, tool));
  relay_.tools_changed(server);
  json::object out;
  out["server"] = server;
  out["tool"] = tool;
  out["status"] = "pinned";
  return json_response(req, 200, json::serialize(out));
}

std::string HttpServer::Impl::string_field(const std::string& body, std::string_view name) {
  boost::system::error_code ec;
  const json::value v = json::parse(body, ec);
  const json::object* o = !ec ? v.if_object() : nullptr;
  const json::value* field = o != nullptr ? o->if_contains(name) : nullptr;
  return field != nullptr && field->is_string() ? std::string(field->get_string()) : "";
}

}  // namespace mcpgw::downstream
