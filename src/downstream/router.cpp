// Every request's first stages: Host and Origin, load shedding, the taint scope,
// authentication, then the surface it is for.
#include "downstream/server_impl.hpp"

#include "relay/shared_rates.hpp"

namespace mcpgw::downstream {

asio::awaitable<bool> HttpServer::Impl::handle(Conn& c, Request& req) {
  if (c.metrics_only) {
    auto target = boost::urls::parse_origin_form(req.target());
    auto res = metrics_only(req, target ? std::string(target->encoded_path()) : std::string());
    co_return co_await write(c, res);
  }
  c.request_id = request_id_of(req);
  if (trace::Tracer::instance().on()) {
    c.traceparent.assign(req["traceparent"]);
  }
  if (auto refusal = check_request(req)) {
    co_return co_await write(c, *refusal);
  }
  auto target = boost::urls::parse_origin_form(req.target());
  if (!target) {
    auto res = error_response(req, 400, nullptr, rpc_code::kInvalidRequest, "Bad request target");
    co_return co_await write(c, res);
  }
  std::string path = target->encoded_path().decode();
  if (path.size() > 1 && path.back() == '/') {
    path.pop_back();  // "/mcp/" is "/mcp": no redirect, clients do not all follow one
  }
  if (req.method() == http::verb::options) {
    auto res = preflight(req);
    co_return co_await write(c, res);
  }
  if (shedding_ && !is_health_path(path) && req.method() != http::verb::delete_) {
    auto res = error_response(req, make_error_code(Errc::overloaded), nullptr,
                              "Service Unavailable: the gateway is over its memory budget "
                              "(limits.memoryBudgetBytes); retry shortly");
    res.set(http::field::retry_after, "5");
    co_return co_await write(c, res);
  }
  if (auto refusal = take_scope(c, req, path)) {
    co_return co_await write(c, *refusal);
  }
  c.principal.reset();
  if (path == "/admin" || path.rfind("/admin/", 0) == 0) {
    auto res = co_await admin(req, path, *target);
    co_return co_await write(c, res);
  }
  if (path == "/ui" || path.rfind("/ui/", 0) == 0) {
    auto res = dashboard(req, path);
    co_return co_await write(c, res);
  }
  if (auth_.jwt() != nullptr &&
      (path == kResourceMetadata || path.rfind(std::string(kResourceMetadata) + "/", 0) == 0)) {
    auto res = resource_metadata(req, path.substr(kResourceMetadata.size()));
    co_return co_await write(c, res);
  }
  if (path.starts_with("/oauth/") && is_oauth_page(path)) {  // one compare for MCP paths
    auto res = co_await oauth_pages(req, path, *target);
    co_return co_await write(c, res);
  }
  if (path == "/register" && req.method() == http::verb::post && auth_.enabled() &&
      auth_.jwt() == nullptr) {
    auto res = keys_only_registration(req);
    co_return co_await write(c, res);
  }
  if (is_mcp_path(path) && auth_.enabled()) {
    // Nothing reaches a server, and no session is found or made, before this passes.
    if (auto refusal = co_await authenticate(c, req, path)) {
      co_return co_await write(c, *refusal);
    }
  }
  co_return co_await to_surface(c, req, path, *target);
}

std::string HttpServer::Impl::request_id_of(const Request& req) {
  const std::string_view given = req["X-Request-Id"];
  const bool fine = !given.empty() && given.size() <= 64 &&
                    std::all_of(given.begin(), given.end(), [](char ch) {
                      return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '.' ||
                             ch == '_' || ch == ':' || ch == '-';
                    });
  if (fine) {
    return std::string(given);
  }
  // 6 + 8 hex digits: short enough to stay inside std::string's own buffer.
  std::string id = request_id_prefix_;
  id.resize(14);
  auto n = static_cast<std::uint32_t>(++request_seq_);
  for (std::size_t i = 13; i >= 6; --i, n >>= 4) {
    id[i] = "0123456789abcdef"[n & 0xF];
  }
  return id;
}

std::optional<Response> HttpServer::Impl::check_request(const Request& req) {
  // Two Hosts (or Origins) could be read differently by a proxy in front and by us.
  if (req.count(http::field::host) > 1 || req.count(http::field::origin) > 1) {
    auto res = error_response(req, 400, nullptr, rpc_code::kInvalidRequest,
                              "Bad Request: more than one Host or Origin header");
    res.keep_alive(false);
    return res;
  }
  // DNS rebinding protection: the Host must be ours and a browser Origin must be allowed.
  if (!host_allowed(req[http::field::host])) {
    return error_response(req, 403, nullptr, rpc_code::kServerError,
                          fmt::format("Forbidden: Host '{}' is not allowed",
                                      std::string_view(req[http::field::host])));
  }
  // A page of this gateway's own (the dashboard) sends its own origin: the Host passed above.
  if (auto origin = req[http::field::origin];
      !origin.empty() && !origin_allowed(origin) && !same_origin(origin, req[http::field::host])) {
    return error_response(req, 403, nullptr, rpc_code::kServerError,
                          fmt::format("Forbidden: Origin '{}' is not allowed",
                                      std::string_view(origin)));
  }
  return std::nullopt;
}

Response HttpServer::Impl::preflight(const Request& req) {
  Response res{http::status::no_content, req.version()};
  common_headers(req, res);
  res.set(http::field::access_control_allow_methods, kAllowStreamable);
  res.set(http::field::access_control_allow_headers,
          "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, "
          "Last-Event-ID, x-mcp-servers, x-mcp-scope");
  res.set(http::field::access_control_max_age, "600");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

std::optional<Response> HttpServer::Impl::take_scope(Conn& c, const Request& req,
                                                      std::string& path) {
  c.scope.clear();
  // Before routing and authentication: the rest of the path is routed as usual.
  if (path.rfind("/scope/", 0) == 0) {
    // /scope/{id}/… in front of any endpoint: sessions of one agent task share taint.
    const auto slash = path.find('/', 7);
    c.scope = path.substr(7, slash == std::string::npos ? std::string::npos : slash - 7);
    path = slash == std::string::npos ? std::string("/") : path.substr(slash);
  } else if (auto h = req["x-mcp-scope"]; !h.empty()) {
    c.scope = std::string(h);
  }
  if (!c.scope.empty() && !gate::valid_scope_id(c.scope)) {
    return error_response(req, 400, nullptr, rpc_code::kInvalidRequest,
                          "Bad request: a scope id is 1 to 128 of A-Z a-z 0-9 . _ : -");
  }
  return std::nullopt;
}

bool HttpServer::Impl::is_rest_path(const std::string& path) {
  return path == "/v1/mcp/tools" || path == "/v1/mcp/server" || path == "/mcp-rest/tools/list" ||
         path == "/mcp-rest/tools/call";
}

bool HttpServer::Impl::is_mcp_path(const std::string& path) const {
  return path == "/mcp" || path.rfind("/mcp/", 0) == 0 || is_rest_path(path) ||
         !litellm_server_path(path).empty() || path == "/sse" || path.rfind("/sse/", 0) == 0 ||
         path == "/message" || path == "/messages";
}

access::Credentials HttpServer::Impl::credentials(Conn& c, const Request& req) {
  // One pass over the headers; the first of each name counts, as a lookup by name would.
  access::Credentials creds;
  creds.client = c.peer_text;
  creds.memo = &c.key_memo;
  bool authorization = false, api_key = false, litellm = false;
  for (const auto& f : req) {
    if (f.name() == http::field::authorization) {
      if (!std::exchange(authorization, true)) {
        creds.authorization = f.value();
      }
    } else if (f.name() == http::field::unknown) {
      const std::string_view name = f.name_string();
      if (beast::iequals(name, "x-api-key") && !std::exchange(api_key, true)) {
        creds.x_api_key = f.value();
      } else if (beast::iequals(name, "x-litellm-api-key") && !std::exchange(litellm, true)) {
        creds.x_litellm_api_key = f.value();
      }
    }
  }
  return creds;
}

asio::awaitable<void> HttpServer::Impl::take_shared_rate(relay::SharedRates& rates,
                                                         access::AuthResult& who) {
  const auto took = co_await rates.take(who.key_name, *who.rate_per_min);
  switch (took.result) {
    case relay::RateTake::Result::ok: break;
    case relay::RateTake::Result::limited:
      access::Authenticator::rate_limited(who, took.retry_after_s);
      access::Authenticator::count_rate_limited();
      break;
    case relay::RateTake::Result::local:
      if (!auth_.take_local(who, *who.rate_per_min)) {
        access::Authenticator::count_rate_limited();
      }
      break;
    case relay::RateTake::Result::unavailable:
      who.outcome = access::AuthOutcome::unavailable;
      who.principal.reset();
      who.retry_after_s = 1;
      who.reason = took.why;
      break;
  }
}

asio::awaitable<std::optional<Response>> HttpServer::Impl::authenticate(Conn& c,
                                                                       const Request& req,
                                                                       const std::string& path) {
  const access::Credentials creds = credentials(c, req);
  // With shared rate limits (gateway.cluster.redis) a key's bucket is in Redis, not here.
  const auto rates = relay_.shared_rates();
  auto who = auth_.authenticate(creds, rates == nullptr);
  if (who.refresh_keys && jwks_) {
    // A key rotation: the token names a key the cached set does not have yet. (Held here: a
    // reload may replace the fetcher meanwhile.)
    const auto fetcher = jwks_;
    const bool changed = co_await fetcher->refresh_now();
    if (changed) {
      who = auth_.authenticate(creds, rates == nullptr);
    }
  }
  if (who.outcome == access::AuthOutcome::ok && who.rate_per_min && rates) {
    co_await take_shared_rate(*rates, who);
  }
  if (who.outcome != access::AuthOutcome::ok) {
    audit_refusal(req, path, who);
  }
  if (who.outcome == access::AuthOutcome::missing ||
      who.outcome == access::AuthOutcome::invalid ||
      who.outcome == access::AuthOutcome::forbidden) {
    const bool forbidden = who.outcome == access::AuthOutcome::forbidden;
    auto res = error_response(req, forbidden ? 403 : 401, nullptr, rpc_code::kServerError,
                              who.reason);
    res.set(http::field::www_authenticate, www_authenticate(req, path, who));
    co_return res;
  }
  if (who.outcome == access::AuthOutcome::rate_limited ||
      who.outcome == access::AuthOutcome::unavailable) {
    const bool limited = who.outcome == access::AuthOutcome::rate_limited;
    auto res = error_response(req, limited ? 429 : 503, nullptr, rpc_code::kServerError, who.reason);
    res.set(http::field::retry_after, std::to_string(who.retry_after_s));
    co_return res;
  }
  c.principal = std::move(who.principal);
  c.key_in_authorization = who.key_in_authorization;
  co_return count_principal(c, req);
}

std::optional<Response> HttpServer::Impl::count_principal(Conn& c, const Request& req) {
  if (!c.principal || c.principal->name == c.counted_as) {
    return std::nullopt;  // the usual case: a later request on an already counted connection
  }
  const std::string& name = c.principal->name;
  if (!admission_.admit_principal(name)) {
    c.principal.reset();
    auto res = error_response(req, 429, nullptr, rpc_code::kServerError,
                              "Too Many Requests: too many connections for this principal "
                              "(limits.maxConnectionsPerPrincipal)");
    res.set(http::field::retry_after, "1");
    res.keep_alive(false);
    return res;
  }
  if (!c.counted_as.empty()) {
    admission_.release_principal(c.counted_as);  // the connection changed hands
  }
  c.counted_as = name;
  return std::nullopt;
}

asio::awaitable<bool> HttpServer::Impl::to_surface(Conn& c, Request& req, const std::string& path,
                                                   const boost::urls::url_view& target) {
  // The query parameter named `key` (or `alias`); the last one wins.
  auto param = [&](std::string_view key, std::string_view alias = {}) {
    std::string value;
    for (auto p : target.params()) {
      if (p.key == key || (!alias.empty() && p.key == alias)) {
        value = p.value;
      }
    }
    return value;
  };
  // "/mcp/{server}" or "/sse/{server}": the server's name, or "/" for a deeper path.
  auto server_of = [&](std::size_t prefix) {
    return path.size() > prefix ? path.substr(prefix + 1) : std::string();
  };
  if (is_rest_path(path)) {
    auto res = co_await rest(c, req, path, param("server_id"));
    co_return co_await write(c, res);
  }
  if (const auto alt = litellm_server_path(path); !alt.empty()) {
    co_return co_await streamable(c, req, alt, path);  // LiteLLM's /{server}/mcp
  }
  if (path == "/mcp" || path.rfind("/mcp/", 0) == 0) {
    const std::string server = server_of(4);
    if (server.find('/') != std::string::npos) {
      auto res = not_found(req);
      co_return co_await write(c, res);
    }
    co_return co_await streamable(c, req, server, path);
  }
  if (path == "/sse" || path.rfind("/sse/", 0) == 0) {
    const std::string server = server_of(4);
    if (server.find('/') != std::string::npos) {
      auto res = not_found(req);
      co_return co_await write(c, res);
    }
    co_return co_await legacy_stream(c, req, server, path);
  }
  if (path == "/message" || path == "/messages") {
    co_return co_await legacy_post(c, req, param("sessionId", "session_id"));
  }
  if (path == "/healthz" || path == "/health") {
    auto res = json_response(req, 200, json::serialize(health()));
    co_return co_await write(c, res);
  }
  if (path == "/livez") {
    // Answered by the event loop itself: that it answers is what it says.
    auto res = json_response(req, 200, R"({"status":"alive"})");
    co_return co_await write(c, res);
  }
  if (path == "/readyz") {
    auto res = readiness(req);
    co_return co_await write(c, res);
  }
  if (path == "/metrics" && gw_.metrics.enabled && !metrics_acceptor_.is_open()) {
    auto res = metrics(req);
    co_return co_await write(c, res);
  }
  auto res = not_found(req);
  co_return co_await write(c, res);
}

std::string HttpServer::Impl::litellm_server_path(const std::string& path) const {
  constexpr std::string_view kTail = "/mcp";
  if (path.size() <= kTail.size() + 1 ||
      path.compare(path.size() - kTail.size(), kTail.size(), kTail) != 0) {
    return {};
  }
  std::string name = path.substr(1, path.size() - 1 - kTail.size());
  if (name.find('/') != std::string::npos || relay_.config().find(name) == nullptr) {
    return {};
  }
  return name;
}

bool HttpServer::Impl::single_server(const std::string& path_server) {
  return !path_server.empty() && path_server.find(',') == std::string::npos;
}

void HttpServer::Impl::audit_refusal(const Request& req, const std::string& path,
                                     const access::AuthResult& who) {
  access::AuditLog* log = relay_.audit_log();
  if (log == nullptr) {
    return;
  }
  access::AuditRecord r;
  r.ts_ms = unix_ms();
  r.principal = who.principal ? who.principal->name : who.key_name.empty() ? "-" : who.key_name;
  r.method = "http";
  r.target = fmt::format("{} {}", std::string_view(req.method_string()), path);
  r.outcome = "denied";
  r.detail = who.reason;
  r.bytes_in = static_cast<std::int64_t>(req.body().size());
  log->record(std::move(r));
}

std::string HttpServer::Impl::owner(const Conn& c) {
  return c.principal ? "principal:" + c.principal->name : "address:" + c.peer_text;
}

Response HttpServer::Impl::session_refused(const Request& req, const boost::system::error_code& ec,
                                           json::value id) {
  std::string message = ec.message();
  if (ec == make_error_code(Errc::too_many_sessions)) {
    message += " (limits.maxSessions)";
  } else if (ec == make_error_code(Errc::too_many_client_sessions)) {
    message += " (limits.maxSessionsPerClient)";
  }
  auto res = error_response(req, ec, std::move(id), message);
  if (res.result_int() == 503 || res.result_int() == 429) {
    res.set(http::field::retry_after, "5");
  }
  return res;
}

bool HttpServer::Impl::same_principal(const access::PrincipalPtr& a,
                                      const access::PrincipalPtr& b) {
  return a == b || (a && b && a->name == b->name);
}

Response HttpServer::Impl::not_found(const Request& req) {
  return error_response(req, 404, nullptr, rpc_code::kInvalidRequest,
                        fmt::format("Not found: {} (MCP is served at /mcp, legacy SSE at /sse)",
                                    std::string_view(req.target())));
}

bool HttpServer::Impl::host_in(const std::vector<std::string>& list, std::string_view host) {
  if (list.empty()) {
    return true;
  }
  const std::string_view h = host_without_port(host);
  for (const auto& allowed : list) {
    if (allowed == "*" || beast::iequals(allowed, h) || (allowed == "::1" && h == "[::1]")) {
      return true;
    }
  }
  return false;
}

bool HttpServer::Impl::same_origin(std::string_view origin, std::string_view host) {
  const auto sep = origin.find("://");
  if (sep == std::string_view::npos || host.empty()) {
    return false;
  }
  const std::string_view scheme = origin.substr(0, sep);
  return (scheme == "http" || scheme == "https") && lower(origin.substr(sep + 3)) == lower(host);
}

bool HttpServer::Impl::origin_allowed(std::string_view origin) const {
  const std::string o = lower(origin);
  for (const auto& allowed : gw_.allowed_origins) {
    if (allowed == "*" || lower(allowed) == o) {
      return true;
    }
  }
  if (!gw_.allowed_origins.empty()) {
    return false;
  }
  // Default: browser pages served from this machine only. An Origin is scheme://host[:port]
  // and nothing else; it is split by hand (a URL parser may read "127.0.0.1.evil.example"
  // as the address 127.0.0.1).
  const auto sep = o.find("://");
  if (sep == std::string::npos) {
    return false;
  }
  const std::string_view authority = std::string_view(o).substr(sep + 3);
  if (authority.find_first_of("/?#@\\") != std::string_view::npos) {
    return false;
  }
  return config::is_loopback_host(host_without_port(authority));
}

std::map<std::string, std::vector<std::pair<std::string, std::string>>>
HttpServer::Impl::passed_headers(const Request& req, const std::vector<std::string>& view) const {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> out;
  for (const auto& server : view) {
    const config::ServerConfig* cfg = relay_.config().find(server);
    if (cfg == nullptr) {
      continue;
    }
    for (const auto& name : cfg->options.pass_headers) {
      const auto value = req[fmt::format("x-mcp-{}-{}", server, name)];
      if (!value.empty()) {
        out[server].emplace_back(name, std::string(value));
      }
    }
  }
  return out;
}

/// The client's own Authorization, for a server that is to receive it: never the gateway
/// API key the request authenticated with.
std::string HttpServer::Impl::client_authorization(const Conn& c, const Request& req) {
  return c.key_in_authorization ? std::string() : std::string(req[http::field::authorization]);
}

boost::system::result<SessionPtr> HttpServer::Impl::open_session(
    const Conn& c, const Request& req, relay::ClientTransport transport,
    std::vector<std::string> view, const std::string& server, const std::string& endpoint,
    const json::object* handshake) {
  relay::SessionSpec spec;
  spec.transport = transport;
  spec.view = std::move(view);
  spec.single_server = single_server(server);
  spec.whole_view = server.empty() && req["x-mcp-servers"].empty();
  spec.endpoint = endpoint;
  spec.owner = owner(c);
  spec.principal = c.principal;
  spec.scope_name = c.scope;
  spec.authorization = client_authorization(c, req);  // the relay keeps it or not
  spec.passed_headers = passed_headers(req, spec.view);
  spec.handshake = handshake;
  return relay_.create_session(std::move(spec));
}

SessionPtr HttpServer::Impl::revive_session(const Conn& c, const Request& req,
                                            std::string_view sid, const std::string& endpoint,
                                            std::string& refusal) {
  if (!relay_.seals_sessions()) {
    return nullptr;
  }
  relay::SessionSpec spec;
  spec.endpoint = endpoint;
  spec.owner = owner(c);
  spec.principal = c.principal;
  spec.authorization = client_authorization(c, req);
  std::vector<std::string> servers;  // the session's view is in its id: pass what is passed
  for (const auto& server : relay_.config().servers) {
    servers.push_back(server.name);
  }
  spec.passed_headers = passed_headers(req, servers);
  auto revived = relay_.revive_session(sid, std::move(spec), refusal);
  return revived ? *revived : nullptr;
}

}  // namespace mcpgw::downstream
