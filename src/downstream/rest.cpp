// The LiteLLM-compatible REST surface: the same auth, permissions, audit and gate as MCP,
// through one internal session per caller and scope.
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

asio::awaitable<SessionPtr> HttpServer::Impl::rest_session(const access::PrincipalPtr& who,
                                                           const std::string& scope) {
  const std::string key = (who ? who->name : std::string()) + '\n' + scope;
  if (auto it = rest_sessions_.find(key); it != rest_sessions_.end() && !it->second->closed()) {
    co_return it->second;
  }
  std::string error;
  auto view = relay_.resolve_view({}, {}, who.get(), error);
  relay::SessionSpec spec;
  if (view) {
    spec.view = std::move(*view);
    spec.whole_view = true;
  }
  spec.endpoint = "/mcp-rest";
  spec.principal = who;
  spec.scope_name = scope;
  auto created = relay_.create_session(std::move(spec));
  if (!created) {
    co_return nullptr;
  }
  SessionPtr s = *created;
  json::object params;
  params["protocolVersion"] = mcp::kLatestVersion;
  params["capabilities"] = json::object();
  json::object info;
  info["name"] = "mcpgw-rest";
  info["version"] = MCPGW_VERSION;
  params["clientInfo"] = std::move(info);
  co_await relay_.call(s, jsonrpc::make_request(0, mcp::method::kInitialize, std::move(params)),
                       std::string());
  std::erase_if(rest_sessions_, [](const auto& kv) { return kv.second->closed(); });
  rest_sessions_[key] = s;
  co_return s;
}

asio::awaitable<Response> HttpServer::Impl::rest(const Conn& c, const Request& req,
                                                 const std::string& path,
                                                 const std::string& server_id) {
  const bool is_call = path == "/mcp-rest/tools/call";
  if (req.method() != (is_call ? http::verb::post : http::verb::get)) {
    auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest, "Method not allowed");
    res.set(http::field::allow, is_call ? "POST" : "GET");
    co_return res;
  }
  if (path == "/v1/mcp/server") {
    co_return json_response(req, 200, json::serialize(rest_servers(c.principal)));
  }
  SessionPtr s = co_await rest_session(c.principal, c.scope);
  if (!s) {
    co_return error_json(req, 503, "too many sessions");
  }
  if (is_call) {
    co_return co_await rest_call(req, s, server_id, c.request_id);
  }
  co_return co_await rest_tools(req, s, server_id, c.request_id);
}

json::array HttpServer::Impl::rest_servers(const access::PrincipalPtr& who) {
  // Servers the caller may use, with their health: a bare array, as LiteLLM answers.
  const json::object health = relay_.health();
  json::array servers;
  for (const auto& cfg : relay_.config().servers) {
    if (who && !who->allows_server(cfg.name)) {
      continue;
    }
    const auto& h = health.at("servers").as_object().at(cfg.name).as_object();
    json::object o;
    o["server_id"] = cfg.name;
    o["server_name"] = cfg.name;
    o["alias"] = cfg.name;
    o["transport"] = config::to_string(cfg.transport);
    if (const auto* u = h.if_contains("url")) {
      o["url"] = *u;
    }
    o["status"] = h.at("state");
    if (const auto* r = h.if_contains("reason")) {
      o["reason"] = *r;
    }
    servers.push_back(std::move(o));
  }
  return servers;
}

asio::awaitable<Response> HttpServer::Impl::rest_tools(const Request& req, const SessionPtr& s,
                                                       const std::string& server_id,
                                                       const std::string& request_id) {
  const std::string& sep = relay_.config().gateway.separator;
  json::object reply = co_await relay_.call(
      s, jsonrpc::make_request(1, mcp::method::kToolsList, {}), request_id);
  json::array tools;
  if (const auto* r = reply.if_contains("result"); r && r->is_object()) {
    for (const auto& t : r->get_object().at("tools").as_array()) {
      json::object tool = t.as_object();
      const std::string name(tool.at("name").as_string());
      const std::string server = name.substr(0, name.find(sep));
      if (!server_id.empty() && server != server_id) {
        continue;
      }
      json::object info;
      info["server_name"] = server;
      tool["mcp_info"] = std::move(info);
      tools.push_back(std::move(tool));
    }
  }
  json::object body;
  body["tools"] = std::move(tools);
  body["error"] = nullptr;
  body["message"] = "Successfully retrieved tools";
  co_return json_response(req, 200, jsonrpc::serialize(body));
}

asio::awaitable<Response> HttpServer::Impl::rest_call(const Request& req, const SessionPtr& s,
                                                      const std::string& server_id,
                                                      const std::string& request_id) {
  const std::string& sep = relay_.config().gateway.separator;
  auto parsed = jsonrpc::parse(req.body(), gw_.limits.max_json_depth);
  if (!parsed || !parsed->is_object() || !parsed->get_object().contains("name") ||
      !parsed->get_object().at("name").is_string()) {
    co_return error_json(req, 400, "expected a JSON body {\"name\": …, \"arguments\": {…}}");
  }
  auto& body = parsed->get_object();
  std::string name(body.at("name").as_string());
  std::string sid = server_id;
  if (const auto* v = body.if_contains("server_id"); v && v->is_string()) {
    sid = std::string(v->get_string());
  }
  if (!sid.empty() && name.rfind(sid + sep, 0) != 0) {
    name = sid + sep + name;  // {"name": "echo", "server_id": "demo"} → demo__echo
  }
  json::object params;
  params["name"] = name;
  if (const auto* a = body.if_contains("arguments"); a && a->is_object()) {
    params["arguments"] = *a;
  } else {
    params["arguments"] = json::object();
  }
  json::object reply = co_await relay_.call(
      s, jsonrpc::make_request(1, mcp::method::kToolsCall, std::move(params)), request_id);
  if (const auto* e = reply.if_contains("error"); e && e->is_object()) {
    const auto& err = e->get_object();
    const auto* code = err.if_contains("code");
    const std::int64_t n = code != nullptr && code->is_int64() ? code->get_int64() : 0;
    // Unknown (or not permitted) tool: 404; refused by the security gate: 403.
    const unsigned status = n == rpc_code::kInvalidParams ? 404
                            : n == gate::kGateDenied      ? 403
                                                          : 502;
    co_return error_json(req, status, err.contains("message") && err.at("message").is_string()
                                          ? std::string_view(err.at("message").as_string())
                                          : std::string_view("error"));
  }
  co_return json_response(req, 200, jsonrpc::serialize(reply["result"]));
}

}  // namespace mcpgw::downstream
