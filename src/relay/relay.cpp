#include "relay/relay.hpp"
#include "common/clock.hpp"

#include "access/key_store.hpp"

#include "common/error.hpp"
#include "common/random.hpp"
#include "common/text.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"
#include "upstream/remote_backend.hpp"
#include "upstream/stdio_backend.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::relay {

using upstream::BackendState;

namespace {

constexpr std::size_t kMaxListPages = 100;

/// What each aggregated list is called on the wire.
struct ListInfo {
  const char* method;      ///< the request
  const char* key;         ///< the result's array
  const char* capability;  ///< the server capability it needs
  const char* changed;     ///< the notification that invalidates it
};
constexpr ListInfo kLists[] = {
    {"tools/list", "tools", "tools", "notifications/tools/list_changed"},
    {"prompts/list", "prompts", "prompts", "notifications/prompts/list_changed"},
    {"resources/list", "resources", "resources", "notifications/resources/list_changed"},
    {"resources/templates/list", "resourceTemplates", "resources",
     "notifications/resources/list_changed"},
};
const ListInfo& info(ListKind k) { return kLists[static_cast<int>(k)]; }

json::object& params_of(json::object& msg) {
  json::value& p = msg["params"];
  if (!p.is_object()) {
    p = json::object();
  }
  return p.get_object();
}

std::string_view string_at(const json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_string()) {
    return v->get_string();
  }
  return {};
}

/// The state a person reads on /healthz: connecting, ready, degraded, down, stopped.
const char* health_state(const upstream::Backend& b) {
  switch (b.state()) {
    case BackendState::starting: return "connecting";
    case BackendState::ready: return b.degraded().empty() ? "ready" : "degraded";
    case BackendState::restarting: return "down";
    case BackendState::stopped: return "stopped";
  }
  return "?";
}

/// What a URL looks like in health output: no userinfo, no query (either may hold secrets).
std::string redacted_url(const std::string& url) {
  upstream::Url u;
  std::string error;
  if (!upstream::parse_url(url, u, error)) {
    return "(invalid)";
  }
  return u.display();
}

/// A reply the security gate made when it refused the call.
bool gate_denied(const json::object& reply) {
  const auto* e = reply.if_contains("error");
  if (e == nullptr || !e->is_object()) {
    return false;
  }
  const auto* code = e->get_object().if_contains("code");
  return code != nullptr && code->is_int64() && code->get_int64() == gate::kGateDenied;
}

bool has_capability(const upstream::Backend& b, std::string_view cap) {
  return b.state() == BackendState::ready && b.info().capabilities.contains(cap);
}

json::object error_reply(const json::value& id, const boost::system::error_code& ec,
                         std::string_view detail) {
  return jsonrpc::make_error(id, to_rpc_code(ec), detail.empty() ? ec.message() : detail);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// BackendSlot

BackendSlot::BackendSlot(Relay& relay_, const config::ServerConfig& cfg_, Session* owner_)
    : relay(relay_), cfg(cfg_), owner(owner_) {}

BackendSlot::~BackendSlot() = default;

void BackendSlot::on_backend_message(upstream::Backend&, json::object&& msg) {
  relay.on_backend_message(*this, std::move(msg));
}

void BackendSlot::on_backend_state(upstream::Backend&, upstream::BackendState state) {
  relay.on_backend_state(*this, state);
}

// ---------------------------------------------------------------------------------------------
// Audit

Relay::AuditScope::AuditScope(Relay& relay, const Session& s, std::string_view method,
                              std::string_view target, const json::object& params,
                              const char* args_key)
    : relay_(relay), started_(Clock::now()) {
  if (relay_.audit_ == nullptr) {
    return;
  }
  row_.emplace();
  auto& r = *row_;
  r.principal = s.principal ? s.principal->name : std::string("-");
  r.session = s.id;
  r.client = std::string(string_at(s.client_info, "name"));
  r.method = std::string(method);
  r.target = std::string(target);
  const json::value* args = args_key ? params.if_contains(args_key) : nullptr;
  const std::string text = args ? json::serialize(*args) : std::string("{}");
  r.args_digest = access::sha256_hex(text);
  r.bytes_in = static_cast<std::int64_t>(text.size());
  if (relay_.cfg_.gateway.audit.arguments && args != nullptr) {
    r.arguments = access::redact_arguments(text);
  }
}

void Relay::AuditScope::done(const json::object& reply, std::string denied) {
  if (!row_) {
    return;
  }
  auto& r = *row_;
  r.server = server;
  r.ts_ms = unix_ms();
  r.latency_us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
  r.bytes_out = static_cast<std::int64_t>(json::serialize(reply).size());
  if (denied.empty() && gate_denied(reply)) {
    denied = gate;  // refused by the security gate: its decisions say why
  }
  if (!denied.empty()) {
    r.outcome = "denied";
    r.detail = std::move(denied);
  } else if (const auto* e = reply.if_contains("error"); e && e->is_object()) {
    const std::string_view msg = string_at(e->get_object(), "message");
    r.outcome = msg.find("timed out") != std::string_view::npos ? "timeout" : "error";
    r.detail = std::string(msg.substr(0, 500));
  } else if (const auto* res = reply.if_contains("result");
             res && res->is_object() && res->get_object().contains("isError") &&
             res->get_object().at("isError").is_bool() && res->get_object().at("isError").get_bool()) {
    r.outcome = "error";
    r.detail = "the tool reported an error";
  } else {
    r.outcome = "ok";
  }
  if (!gate.empty() && denied.empty()) {
    r.detail = r.detail.empty() ? gate : gate + "; " + r.detail;
  }
  relay_.audit_->record(std::move(r));
  row_.reset();
}

// ---------------------------------------------------------------------------------------------
// Relay: lifecycle

Relay::Relay(asio::any_io_executor ex, const config::Config& cfg)
    : ex_(ex), cfg_(cfg), naming_(cfg.gateway.separator) {}

Relay::~Relay() = default;

namespace {

json::object gateway_client_info() {
  json::object info;
  info["name"] = "mcpgw";
  info["version"] = MCPGW_VERSION;
  return info;
}

}  // namespace

upstream::BackendPtr Relay::make_backend(const config::ServerConfig& server,
                                         upstream::ClientIdentity identity, BackendSlot& slot) {
  if (server.transport == config::Transport::stdio) {
    return std::make_shared<upstream::StdioBackend>(ex_, server, cfg_.gateway, std::move(identity),
                                                    slot);
  }
  auto& client = http_clients_[server.name];
  if (!client) {
    upstream::Url url;
    std::string error;
    upstream::parse_url(server.url, url, error);  // checked when the config was read
    upstream::TlsSettings tls;
    tls.ca_file = server.options.tls_ca_file;
    tls.insecure = server.options.tls_insecure;
    client = std::make_shared<upstream::HttpClient>(ex_, std::move(url), std::move(tls),
                                                    cfg_.gateway.timeouts.connect, server.name);
  }
  if (server.transport == config::Transport::http) {
    return std::make_shared<upstream::StreamableHttpBackend>(ex_, server, cfg_.gateway,
                                                             std::move(identity), slot, client);
  }
  return std::make_shared<upstream::LegacySseBackend>(ex_, server, cfg_.gateway,
                                                      std::move(identity), slot, client);
}

bool Relay::forwards_authorization() const noexcept {
  return std::any_of(cfg_.servers.begin(), cfg_.servers.end(),
                     [](const auto& s) { return s.options.forward_authorization; });
}

void Relay::start() {
  for (const auto& server : cfg_.servers) {
    if (server.options.isolation == config::Isolation::session) {
      continue;
    }
    auto slot = std::make_unique<BackendSlot>(*this, server, nullptr);
    // A shared backend serves many sessions: it may ask for sampling and elicitation (routed to
    // the session that caused them) but not roots (whose roots would it be?).
    upstream::ClientIdentity identity;
    identity.capabilities["sampling"] = json::object();
    identity.capabilities["elicitation"] = json::object();
    identity.client_info = gateway_client_info();
    slot->backend = make_backend(server, std::move(identity), *slot);
    slot->backend->start();
    shared_[server.name] = std::move(slot);
  }
  asio::co_spawn(ex_, reap_idle(), asio::detached);
}

asio::awaitable<void> Relay::stop() {
  stopping_ = true;
  std::vector<SessionPtr> all;
  for (auto& [id, s] : sessions_) {
    all.push_back(s);
  }
  for (auto& s : all) {
    close_session(s, "gateway stopping");
  }
  std::vector<upstream::BackendPtr> backends;
  for (auto& [name, slot] : shared_) {
    if (slot->backend) {
      backends.push_back(slot->backend);
    }
  }
  for (auto& s : all) {
    for (auto& [name, slot] : s->isolated) {
      if (slot->backend) {
        backends.push_back(slot->backend);
      }
    }
  }
  // Stop them side by side: each may take its grace period.
  auto remaining = std::make_shared<std::size_t>(backends.size());
  auto done = std::make_shared<Event>(ex_);
  for (auto& b : backends) {
    asio::co_spawn(ex_, [b, remaining, done]() -> asio::awaitable<void> {
      co_await b->stop();
      if (--*remaining == 0) {
        done->set();
      }
    }, asio::detached);
  }
  if (!backends.empty()) {
    co_await done->wait_until(Clock::now() + std::chrono::seconds(10));
  }
}

asio::awaitable<void> Relay::reap_idle() {
  const auto idle = cfg_.gateway.timeouts.session_idle;
  const auto period = std::min<Clock::duration>(idle / 4, std::chrono::seconds(30));
  asio::steady_timer timer(ex_);
  while (!stopping_) {
    timer.expires_after(std::max<Clock::duration>(period, std::chrono::milliseconds(50)));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto now = Clock::now();
    std::vector<SessionPtr> expired;
    for (auto& [id, s] : sessions_) {
      if (s->inflight.empty() && !s->has_attached_stream() && now - s->last_active > idle) {
        expired.push_back(s);
      }
    }
    for (auto& s : expired) {
      close_session(s, "idle");
    }
    if (gate_ != nullptr) {
      gate_->scopes().reap(now, gate_->config().scope_idle);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions

boost::system::result<SessionPtr> Relay::create_session(ClientTransport transport,
                                                        std::vector<std::string> view,
                                                        bool single_server, std::string endpoint,
                                                        std::string owner) {
  if (stopping_) {
    return make_error_code(Errc::shutting_down);
  }
  if (sessions_.size() >= cfg_.gateway.limits.max_sessions) {
    return make_error_code(Errc::too_many_sessions);
  }
  if (!owner.empty() && sessions_per_owner_[owner] >= cfg_.gateway.limits.max_sessions_per_client) {
    return make_error_code(Errc::too_many_client_sessions);
  }
  auto s = std::make_shared<Session>(ex_, random_hex(16), transport, std::move(view),
                                     single_server, cfg_.gateway.limits.replay_events);
  s->endpoint = std::move(endpoint);
  if (!owner.empty()) {
    ++sessions_per_owner_[owner];
    s->owner = std::move(owner);
  }
  sessions_[s->id] = s;
  spdlog::debug("session {} opened ({} servers)", s->id, s->view.size());
  return s;
}

SessionPtr Relay::find_session(std::string_view id) const {
  auto it = sessions_.find(std::string(id));
  return it == sessions_.end() ? nullptr : it->second;
}

void Relay::close_session(const SessionPtr& s, std::string_view why) {
  if (!s || s->closed) {
    return;
  }
  s->closed = true;
  spdlog::info("session {} closed ({})", s->id, why);
  for (auto& [key, inflight] : std::unordered_map(s->inflight)) {
    if (inflight->slot && inflight->slot->backend && inflight->call) {
      inflight->slot->backend->cancel(*inflight->call, make_error_code(Errc::cancelled),
                                      "client session closed");
    }
  }
  for (const auto& uri : s->subscriptions) {
    if (auto route = route_uri(*s, uri)) {
      auto& count = route->slot->subscriptions[route->name];
      if (--count <= 0) {
        route->slot->subscriptions.erase(route->name);
        json::object params;
        params["uri"] = route->name;
        if (route->slot->backend) {
          route->slot->backend->send_request(
              jsonrpc::make_request(0, mcp::method::kResourcesUnsubscribe, std::move(params)));
        }
      }
    }
  }
  s->subscriptions.clear();
  for (auto& [key, pending] : s->server_requests) {
    if (pending.ask) {
      pending.ask->done.set();  // an approval asked of this client is not coming
    }
  }
  s->standalone()->finish();
  for (auto& [name, slot] : s->isolated) {
    if (slot->backend) {
      // Keep the session (and so the slot the backend reports to) alive until it stopped.
      asio::co_spawn(ex_, [b = slot->backend, keep = s]() -> asio::awaitable<void> {
        co_await b->stop();
      }, asio::detached);
    }
  }
  sessions_.erase(s->id);
  if (auto it = sessions_per_owner_.find(s->owner); it != sessions_per_owner_.end() &&
                                                     --it->second == 0) {
    sessions_per_owner_.erase(it);
  }
}

std::optional<std::vector<std::string>> Relay::resolve_view(std::string_view path_server,
                                                            std::string_view servers_header,
                                                            const access::Principal* principal,
                                                            std::string& error) const {
  std::vector<std::string> view;
  auto allowed = [&](std::string_view name) {
    return principal == nullptr || principal->allows_server(name);
  };
  if (path_server.find(',') != std::string_view::npos) {
    // LiteLLM's /mcp/a,b: those servers, aggregated (then x-mcp-servers is not consulted).
    return resolve_view({}, path_server, principal, error);
  }
  if (!path_server.empty()) {
    if (cfg_.find(path_server) == nullptr || !allowed(path_server)) {
      error = fmt::format("no server named '{}'", path_server);
      return std::nullopt;
    }
    view.emplace_back(path_server);
    return view;
  }
  if (servers_header.empty()) {
    for (const auto& s : cfg_.servers) {
      if (allowed(s.name)) {
        view.push_back(s.name);
      }
    }
    return view;
  }
  // x-mcp-servers: a,b narrows the aggregate endpoint (config order is kept).
  std::set<std::string> wanted;
  for (auto& name : split_list(servers_header)) {
    if (cfg_.find(name) == nullptr || !allowed(name)) {
      error = fmt::format("x-mcp-servers names an unknown server '{}'", name);
      return std::nullopt;
    }
    wanted.insert(std::move(name));
  }
  for (const auto& s : cfg_.servers) {
    if (wanted.count(s.name) != 0) {
      view.push_back(s.name);
    }
  }
  return view;
}

BackendSlot* Relay::slot_for(Session& s, std::string_view server) {
  const config::ServerConfig* cfg = cfg_.find(server);
  if (cfg == nullptr) {
    return nullptr;
  }
  if (cfg->options.isolation == config::Isolation::shared) {
    auto it = shared_.find(cfg->name);
    return it == shared_.end() ? nullptr : it->second.get();
  }
  if (auto it = s.isolated.find(cfg->name); it != s.isolated.end()) {
    return it->second.get();
  }
  if (s.closed || stopping_) {
    return nullptr;
  }
  // This session's own backend: it speaks for this one client, so it gets the client's
  // capabilities (roots included) and identity.
  auto slot = std::make_unique<BackendSlot>(*this, *cfg, &s);
  upstream::ClientIdentity identity;
  for (const char* cap : {"roots", "sampling", "elicitation"}) {
    if (const auto* v = s.client_capabilities.if_contains(cap)) {
      identity.capabilities[cap] = *v;
    }
  }
  identity.client_info = s.client_info.empty() ? gateway_client_info() : s.client_info;
  if (cfg->options.forward_authorization) {
    identity.authorization = s.authorization;
  }
  slot->backend = make_backend(*cfg, std::move(identity), *slot);
  if (slot->backend) {
    slot->backend->start();
  }
  auto* raw = slot.get();
  s.isolated[cfg->name] = std::move(slot);
  return raw;
}

// ---------------------------------------------------------------------------------------------
// Requests from clients

asio::awaitable<void> Relay::handle_request(SessionPtr s, json::object request,
                                            std::shared_ptr<EventStream> out) {
  json::value id = request["id"];
  json::object reply;
  s->touch();
  try {
    reply = co_await dispatch(s, request, out);
  } catch (const std::exception& e) {
    spdlog::error("internal error handling {}: {}", jsonrpc::method(request), e.what());
    reply = jsonrpc::make_error(id, rpc_code::kInternalError, "Internal error");
  }
  s->touch();
  const bool cancelled = s->cancelled.erase(jsonrpc::id_key(id)) != 0;
  if (out == s->standalone()) {
    // Legacy SSE: the session's one stream goes on after the reply.
    if (!cancelled) {
      out->push(jsonrpc::serialize(reply));
    }
  } else if (cancelled && out->sse_ok()) {
    out->finish();  // an SSE reply may end without a response; a JSON reply needs a body
  } else {
    out->push_final(jsonrpc::serialize(reply));
  }
}

asio::awaitable<json::object> Relay::dispatch(SessionPtr s, json::object& req,
                                              std::shared_ptr<EventStream> out) {
  const json::value id = req.at("id");
  const std::string m(jsonrpc::method(req));
  namespace mm = mcp::method;

  if (m == mm::kInitialize) {
    co_return co_await initialize(s, req);
  }
  if (m == mm::kPing) {
    co_return jsonrpc::make_result(id, json::object());
  }
  if (m == mm::kToolsList) {
    co_return co_await list(s, ListKind::tools, id);
  }
  if (m == mm::kPromptsList) {
    co_return co_await list(s, ListKind::prompts, id);
  }
  if (m == mm::kResourcesList) {
    co_return co_await list(s, ListKind::resources, id);
  }
  if (m == mm::kResourceTemplatesList) {
    co_return co_await list(s, ListKind::templates, id);
  }
  if (m == mm::kLoggingSetLevel) {
    co_return co_await set_level(s, req);
  }
  if (m == mm::kToolsCall || m == mm::kPromptsGet) {
    json::object& params = params_of(req);
    const std::string name(string_at(params, "name"));
    const char* what = m == mm::kToolsCall ? "tool" : "prompt";
    AuditScope audit(*this, *s, m, name, params, "arguments");
    auto route = route_name(*s, name);
    bool denied = false;
    if (route && m == mm::kToolsCall && s->principal) {
      // With access control, a tool the caller may not use and a tool that does not exist get
      // the same answer, from the gateway: neither can be told apart by probing.
      bool exists = false;
      if (tool_allowed(*s, route->slot->cfg.name, route->name)) {
        auto tools = co_await fetch_list(*route->slot, ListKind::tools, s);
        // No list (the server is down): let the call say so, as it would without access control.
        exists = !tools || std::any_of(tools->begin(), tools->end(), [&](const json::value& t) {
          return t.is_object() && string_at(t.get_object(), "name") == route->name;
        });
      } else {
        denied = true;
      }
      if (!exists) {
        audit.server = route->slot->cfg.name;
        route.reset();
      }
    }
    if (name.empty() || !route) {
      auto reply = jsonrpc::make_error(id, rpc_code::kInvalidParams,
                                       fmt::format("Unknown {}: {}", what, name));
      audit.done(reply, denied ? fmt::format("not permitted for key '{}'", s->principal->name)
                               : std::string());
      co_return reply;
    }
    audit.server = route->slot->cfg.name;
    params["name"] = route->name;
    auto reply = co_await gated_forward(s, *route->slot, std::move(req), out, m, route->name,
                                        audit.gate);
    audit.done(reply);
    co_return reply;
  }
  if (m == mm::kResourcesRead) {
    json::object& params = params_of(req);
    const std::string uri(string_at(params, "uri"));
    AuditScope audit(*this, *s, m, uri, params, nullptr);
    auto route = route_uri(*s, uri);
    if (uri.empty() || !route) {
      json::object data;
      data["uri"] = uri;
      auto reply = jsonrpc::make_error(id, -32002, fmt::format("Resource not found: {}", uri),
                                       std::move(data));
      audit.done(reply);
      co_return reply;
    }
    audit.server = route->slot->cfg.name;
    params["uri"] = route->name;
    auto reply = co_await gated_forward(s, *route->slot, std::move(req), out, m, route->name,
                                        audit.gate);
    audit.done(reply);
    co_return reply;
  }
  if (m == mm::kResourcesSubscribe || m == mm::kResourcesUnsubscribe) {
    co_return co_await subscribe(s, req, m == mm::kResourcesSubscribe, out);
  }
  if (m == mm::kCompletionComplete) {
    json::object& params = params_of(req);
    json::value* ref = params.if_contains("ref");
    if (ref == nullptr || !ref->is_object()) {
      co_return jsonrpc::make_error(id, rpc_code::kInvalidParams, "completion/complete needs ref");
    }
    auto& r = ref->get_object();
    const std::string type(string_at(r, "type"));
    std::optional<Route> route;
    if (type == "ref/prompt") {
      route = route_name(*s, string_at(r, "name"));
      if (route) {
        r["name"] = route->name;
      }
    } else if (type == "ref/resource") {
      route = route_uri(*s, string_at(r, "uri"));
      if (route) {
        r["uri"] = route->name;
      }
    }
    if (!route) {
      co_return jsonrpc::make_error(id, rpc_code::kInvalidParams,
                                    "completion/complete: unknown prompt or resource");
    }
    co_return co_await forward(s, *route->slot, std::move(req), out);
  }
  // A per-server endpoint forwards methods the gateway does not know (newer protocol
  // features keep working); the aggregate endpoint cannot know where they belong.
  if (s->single_server && m != mm::kServerDiscover) {
    if (BackendSlot* slot = slot_for(*s, s->view.front())) {
      co_return co_await forward(s, *slot, std::move(req), out);
    }
  }
  co_return jsonrpc::make_error(id, rpc_code::kMethodNotFound, fmt::format("Method not found: {}", m));
}

asio::awaitable<json::object> Relay::initialize(SessionPtr s, json::object& req) {
  const json::value id = req.at("id");
  json::object& params = params_of(req);
  const std::string requested(string_at(params, "protocolVersion"));
  s->protocol_version = std::string(mcp::negotiate(requested));
  if (const auto* caps = params.if_contains("capabilities"); caps && caps->is_object()) {
    s->client_capabilities = caps->get_object();
  }
  if (const auto* info = params.if_contains("clientInfo"); info && info->is_object()) {
    s->client_info = info->get_object();
  }

  // Wait (bounded) for the servers this session sees, so the capabilities are known.
  const auto deadline = Clock::now() + cfg_.gateway.timeouts.list;
  std::vector<BackendSlot*> slots;
  for (const auto& name : s->view) {
    if (BackendSlot* slot = slot_for(*s, name); slot && slot->backend) {
      slots.push_back(slot);
    }
  }
  for (BackendSlot* slot : slots) {
    if (!slot->backend->down()) {
      co_await slot->backend->wait_ready(deadline);
    }
  }

  json::object result;
  result["protocolVersion"] = s->protocol_version;
  json::object caps;
  json::object server_info;
  std::string instructions;
  if (s->single_server && slots.size() == 1 && slots[0]->backend->state() == BackendState::ready) {
    const auto& info = slots[0]->backend->info();
    caps = info.capabilities;
    caps["logging"] = json::object();  // setLevel is always answered
    server_info = info.server_info;
    instructions = info.instructions;
  } else {
    bool prompts = false;
    bool resources = false;
    bool subscribe = false;
    bool completions = false;
    for (BackendSlot* slot : slots) {
      const auto& b = *slot->backend;
      prompts = prompts || has_capability(b, "prompts");
      completions = completions || has_capability(b, "completions");
      if (has_capability(b, "resources")) {
        resources = true;
        const auto& r = b.info().capabilities.at("resources");
        if (r.is_object()) {
          if (const auto* sub = r.get_object().if_contains("subscribe"); sub && sub->is_bool()) {
            subscribe = subscribe || sub->get_bool();
          }
        }
      }
      if (b.state() == BackendState::ready && !b.info().instructions.empty()) {
        instructions += fmt::format("{}## {}\n{}", instructions.empty() ? "" : "\n\n",
                                    slot->cfg.name, b.info().instructions);
      }
    }
    json::object changed;
    changed["listChanged"] = true;
    caps["tools"] = changed;
    if (prompts) {
      caps["prompts"] = changed;
    }
    if (resources) {
      json::object r = changed;
      r["subscribe"] = subscribe;
      caps["resources"] = std::move(r);
    }
    if (completions) {
      caps["completions"] = json::object();
    }
    caps["logging"] = json::object();
    if (s->single_server) {
      server_info["name"] = s->view.front();
    } else {
      server_info["name"] = "mcpgw";
      server_info["title"] = "mcpgw MCP gateway";
    }
    server_info["version"] = MCPGW_VERSION;
  }
  result["capabilities"] = std::move(caps);
  result["serverInfo"] = std::move(server_info);
  if (!instructions.empty()) {
    result["instructions"] = instructions;
  }
  s->initialized = true;
  spdlog::info("session {}: initialize from {} ({}), protocol {}", s->id,
               string_at(s->client_info, "name"), string_at(s->client_info, "version"),
               s->protocol_version);
  co_return jsonrpc::make_result(id, std::move(result));
}

asio::awaitable<json::object> Relay::list(SessionPtr s, ListKind kind, const json::value& id) {
  const auto deadline = Clock::now() + cfg_.gateway.timeouts.list;
  struct Gather {
    explicit Gather(asio::any_io_executor ex, std::size_t n) : done(std::move(ex)), results(n) {}
    // Starts at 1 for the loop below: co_spawn may run a fetch to completion inline, and the
    // gather must not look finished before every fetch was started.
    std::size_t remaining = 1;
    Event done;
    std::vector<std::shared_ptr<const json::array>> results;
  };
  auto g = std::make_shared<Gather>(ex_, s->view.size());
  std::vector<BackendSlot*> slots(s->view.size(), nullptr);
  for (std::size_t i = 0; i < s->view.size(); ++i) {
    BackendSlot* slot = slot_for(*s, s->view[i]);
    if (slot == nullptr || !slot->backend) {
      continue;
    }
    slots[i] = slot;
    if (auto cached = slot->cache(kind).items) {
      g->results[i] = std::move(cached);
      continue;
    }
    if (slot->backend->down()) {
      continue;  // down: don't hold the list for it
    }
    ++g->remaining;
    asio::co_spawn(ex_, [this, g, i, slot, kind, s]() -> asio::awaitable<void> {
      g->results[i] = co_await fetch_list(*slot, kind, s);
      if (--g->remaining == 0) {
        g->done.set();
      }
    }, asio::detached);
  }
  if (--g->remaining > 0) {
    co_await g->done.wait_until(deadline);
  }

  json::array items;
  std::vector<std::string> left_out;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    const std::string& server = s->view[i];
    const auto& part = g->results[i];
    if (!part) {
      if (slots[i] != nullptr && (slots[i]->backend->state() != BackendState::ready ||
                                  has_capability(*slots[i]->backend, info(kind).capability))) {
        left_out.push_back(server);
        slots[i]->cache(kind).served_partial = true;
      }
      continue;
    }
    gate::Chain* chain = nullptr;
    if (gate_ != nullptr && kind == ListKind::tools) {
      chain = &chain_of(*s);
      chain->tools_listed(server, part);
    }
    for (const auto& item : *part) {
      if (!item.is_object()) {
        continue;
      }
      if (kind == ListKind::tools && s->principal &&
          !tool_allowed(*s, server, string_at(item.get_object(), "name"))) {
        continue;  // hidden: the caller may not use it
      }
      if (chain != nullptr && !chain->tool_visible(server, string_at(item.get_object(), "name"))) {
        continue;  // hidden: quarantined by the gate
      }
      json::object copy = item.get_object();
      if (!s->single_server) {
        if (kind == ListKind::tools || kind == ListKind::prompts) {
          bool shortened = false;
          copy["name"] = naming_.expose(server, string_at(copy, "name"), &shortened);
          if (shortened && warned_shortened_.insert(std::string(copy["name"].as_string())).second) {
            spdlog::warn("[{}] {} name '{}' is longer than 64 characters with its prefix; "
                         "exposed as '{}'", server, info(kind).key,
                         string_at(item.get_object(), "name"), copy["name"].as_string());
          }
        } else if (kind == ListKind::resources) {
          copy["uri"] = mcp::Naming::expose_uri(server, string_at(copy, "uri"));
        } else {
          copy["uriTemplate"] = mcp::Naming::expose_uri(server, string_at(copy, "uriTemplate"));
        }
      }
      items.push_back(std::move(copy));
    }
  }
  if (!left_out.empty()) {
    std::string names;
    for (const auto& n : left_out) {
      names += names.empty() ? n : ", " + n;
    }
    spdlog::warn("session {}: {} answered without {} (not ready within {} ms)", s->id,
                 info(kind).method, names, cfg_.gateway.timeouts.list.count());
    // The client hears it too, as a logging notification: its list is short, and why.
    if (s->log_rank < 0 || s->log_rank <= mcp::log_level_rank("warning")) {
      for (std::size_t i = 0; i < slots.size(); ++i) {
        if (slots[i] == nullptr || g->results[i] ||
            std::find(left_out.begin(), left_out.end(), s->view[i]) == left_out.end()) {
          continue;
        }
        const auto& b = *slots[i]->backend;
        json::object params;
        params["level"] = "warning";
        params["logger"] = "mcpgw";
        params["data"] = fmt::format(
            "server '{}' is {}{}{}: its {} are left out of this list", s->view[i],
            b.down() ? "down" : "not ready", b.last_error().empty() ? "" : ": ", b.last_error(),
            info(kind).key);
        deliver(*s, nullptr, jsonrpc::make_notification(mcp::method::kMessage,
                                                        std::move(params)));
      }
    }
  }
  json::object result;
  result[info(kind).key] = std::move(items);
  co_return jsonrpc::make_result(id, std::move(result));
}

asio::awaitable<std::shared_ptr<const json::array>> Relay::fetch_list(
    BackendSlot& slot, ListKind kind, [[maybe_unused]] std::shared_ptr<Session> keep) {
  ListCache& cache = slot.cache(kind);
  if (cache.items) {
    co_return cache.items;
  }
  const auto deadline = Clock::now() + cfg_.gateway.timeouts.call;
  if (cache.fetching) {
    auto ev = cache.fetching;  // someone else is already asking: share their answer
    co_await ev->wait_until(deadline);
    co_return cache.items;
  }
  auto ev = std::make_shared<Event>(ex_);
  cache.fetching = ev;
  auto backend = slot.backend;  // keeps the backend alive across the awaits

  std::shared_ptr<const json::array> answer;
  if (co_await backend->wait_ready(std::min(deadline, Clock::now() + cfg_.gateway.timeouts.startup))) {
    if (!has_capability(*backend, info(kind).capability)) {
      answer = std::make_shared<const json::array>();
    } else {
      json::array all;
      json::value cursor;
      bool ok = true;
      for (std::size_t page = 0; page < kMaxListPages; ++page) {
        json::object params;
        if (!cursor.is_null()) {
          params["cursor"] = cursor;
        }
        auto call = backend->send_request(jsonrpc::make_request(0, info(kind).method, std::move(params)));
        if (!co_await call->done.wait_until(deadline)) {
          backend->cancel(*call, make_error_code(Errc::upstream_timeout), "list timed out");
          ok = false;
          break;
        }
        if (call->ec || !call->response) {
          spdlog::debug("[{}] {} call failed: {} {}", slot.cfg.name, info(kind).method, call->ec.message(), call->detail);
          ok = false;
          break;
        }
        const auto* result = call->response->if_contains("result");
        if (result == nullptr || !result->is_object()) {
          // An error: the server has no such list after all. Remember it as empty.
          spdlog::debug("[{}] {} failed: {}", slot.cfg.name, info(kind).method,
                        json::serialize(*call->response));
          break;
        }
        const auto& r = result->get_object();
        if (const auto* arr = r.if_contains(info(kind).key); arr && arr->is_array()) {
          for (const auto& item : arr->get_array()) {
            all.push_back(item);
          }
        }
        const auto* next = r.if_contains("nextCursor");
        if (next == nullptr || next->is_null() || (next->is_string() && next->get_string().empty())) {
          break;
        }
        cursor = *next;
      }
      if (ok) {
        answer = std::make_shared<const json::array>(std::move(all));
      }
    }
  }
  if (cache.fetching == ev) {
    cache.fetching.reset();
    if (answer) {
      cache.items = answer;
      if (cache.served_partial) {
        // A list went out without this server: now that it answered, tell those clients.
        cache.served_partial = false;
        notify_sessions(slot, info(kind).changed);
      }
    }
  }
  ev->set();
  co_return answer;
}

asio::awaitable<json::object> Relay::forward(SessionPtr s, BackendSlot& slot, json::object req,
                                             std::shared_ptr<EventStream> out) {
  const json::value client_id = req.at("id");
  const std::string m(jsonrpc::method(req));
  auto backend = slot.backend;
  if (!backend) {
    co_return jsonrpc::make_error(client_id, rpc_code::kInternalError,
                                  fmt::format("Server '{}' ({}) is not supported yet",
                                              slot.cfg.name, config::to_string(slot.cfg.transport)));
  }
  const auto timeout = slot.cfg.options.call_timeout.value_or(cfg_.gateway.timeouts.call);
  const auto deadline = Clock::now() + timeout;
  if (backend->state() != BackendState::ready) {
    const bool wait = !backend->down();
    if (!wait || !co_await backend->wait_ready(std::min(deadline, Clock::now() + cfg_.gateway.timeouts.startup))) {
      co_return jsonrpc::make_error(
          client_id, rpc_code::kInternalError,
          fmt::format("Server '{}' is not available: {}", slot.cfg.name,
                      backend->last_error().empty() ? upstream::to_string(backend->state())
                                                    : backend->last_error()));
    }
  }
  // Progress tokens are per client; servers are shared. Give the server a token of ours.
  std::optional<std::int64_t> token;
  if (const json::value* t = jsonrpc::progress_token(req)) {
    token = next_progress_token_++;
    progress_[*token] = ProgressRoute{s, *t, out};
    req["params"].as_object()["_meta"].as_object()["progressToken"] = *token;
  }

  auto inflight = std::make_shared<InFlight>();
  inflight->client_id = client_id;
  inflight->session = s;
  inflight->out = out;
  inflight->slot = &slot;
  inflight->order = next_inflight_order_++;
  const std::string key = jsonrpc::id_key(client_id);
  s->inflight[key] = inflight;
  slot.inflight.push_back(inflight.get());
  ++inflight_count_;

  const auto started = Clock::now();
  auto call = backend->send_request(std::move(req));
  inflight->call = call;
  const bool answered = co_await call->done.wait_until(deadline);
  spdlog::debug("session {}: {} → {}: {} in {} µs", s->id, m, slot.cfg.name,
                !answered  ? "timeout"
                : call->ec ? call->ec.message()
                : call->response && call->response->contains("error") ? "error"
                                                                       : "ok",
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
  if (!answered) {
    backend->cancel(*call, make_error_code(Errc::upstream_timeout),
                    fmt::format("mcpgw: no response within {} ms", timeout.count()));
  }

  --inflight_count_;
  std::erase(slot.inflight, inflight.get());
  if (auto it = s->inflight.find(key); it != s->inflight.end() && it->second == inflight) {
    s->inflight.erase(it);
  }
  if (token) {
    progress_.erase(*token);
  }

  if (call->ec) {
    std::string detail = call->detail;
    if (call->ec == make_error_code(Errc::upstream_timeout)) {
      detail = fmt::format("Request to server '{}' timed out after {} ms", slot.cfg.name,
                           timeout.count());
    }
    co_return error_reply(client_id, call->ec, detail);
  }
  json::object response = std::move(*call->response);
  response["id"] = client_id;
  if (!s->single_server) {
    if (auto* result = response.if_contains("result")) {
      expose_uris(*result, m, slot.cfg.name);
    }
  }
  co_return response;
}

asio::awaitable<json::object> Relay::gated_forward(SessionPtr s, BackendSlot& slot,
                                                   json::object req,
                                                   std::shared_ptr<EventStream> out,
                                                   std::string_view method,
                                                   const std::string& name,
                                                   std::string& decisions) {
  if (gate_ == nullptr) {
    co_return co_await forward(s, slot, std::move(req), out);
  }
  const json::value id = req.at("id");
  const std::string principal = s->principal ? s->principal->name : std::string("-");
  gate::Chain& chain = chain_of(*s);
  if (!s->scope) {
    s->scope = gate_->scopes().get(principal, s->scope_name, s->id);
  }
  gate::ScopePtr scope = s->scope;  // the call keeps its scope even if the session closes
  scope->last_used = Clock::now();

  gate::Call call;
  call.method = std::string(method);
  call.server = slot.cfg.name;
  call.name = name;
  call.source = fmt::format("{}/{}", slot.cfg.name, name);
  call.params = &params_of(req);
  call.scope = scope.get();
  call.principal = principal;
  call.session = s->id;
  const json::object* annotations = nullptr;
  std::shared_ptr<const json::array> tools;
  if (method == mcp::method::kToolsCall) {
    tools = co_await fetch_list(slot, ListKind::tools, s);
    chain.tools_listed(slot.cfg.name, tools);
    if (tools) {
      for (const auto& t : *tools) {
        if (t.is_object() && string_at(t.get_object(), "name") == name) {
          const auto* a = t.get_object().if_contains("annotations");
          annotations = a != nullptr && a->is_object() ? &a->get_object() : nullptr;
        }
      }
    }
  }
  call.labels = gate::resolve_labels(slot.cfg.options,
                                     method == mcp::method::kToolsCall ? std::string_view(name)
                                                                      : std::string_view(),
                                     annotations);
  if (s->client_capabilities.contains("elicitation")) {
    call.elicit = [this, s, out](std::string message) -> asio::awaitable<std::optional<bool>> {
      json::object params;
      params["message"] = std::move(message);
      json::object schema;
      schema["type"] = "object";
      schema["properties"] = json::object();
      params["requestedSchema"] = std::move(schema);
      auto answer = co_await ask_client(s, out, mcp::method::kElicitationCreate,
                                        std::move(params),
                                        Clock::now() + gate_->config().approval_timeout);
      if (!answer) {
        co_return std::nullopt;
      }
      const auto* result = answer->if_contains("result");
      if (result == nullptr || !result->is_object()) {
        co_return std::nullopt;
      }
      co_return string_at(result->get_object(), "action") == "accept";
    };
  }
  std::optional<json::value> token;
  if (const json::value* t = jsonrpc::progress_token(req)) {
    token = *t;
  }
  call.waiting = [this, s, out, token, n = 0](const std::string& message, bool first) mutable {
    if (token) {
      json::object p;
      p["progressToken"] = *token;
      p["progress"] = ++n;
      p["message"] = message;
      deliver(*s, out, jsonrpc::make_notification(mcp::method::kProgress, std::move(p)));
    } else if (first && (s->log_rank < 0 || s->log_rank <= mcp::log_level_rank("warning"))) {
      json::object p;
      p["level"] = "warning";
      p["logger"] = "mcpgw";
      p["data"] = message;
      deliver(*s, out, jsonrpc::make_notification(mcp::method::kMessage, std::move(p)));
    }
  };

  const gate::Outcome outcome = co_await chain.request(call);
  auto join_decisions = [&] {
    for (const auto& d : call.decisions) {
      decisions += decisions.empty() ? d : "; " + d;
    }
  };
  if (outcome.kind == gate::Outcome::Kind::deny) {
    join_decisions();
    co_return gate::Chain::refusal(call, id, outcome.reason);
  }
  call.params = nullptr;  // the request goes to the server now
  json::object reply = co_await forward(s, slot, std::move(req), out);
  co_await chain.result(call, reply);
  join_decisions();
  co_return reply;
}

gate::Chain& Relay::chain_of(Session& s) {
  if (!s.chain) {
    s.chain = gate_->new_chain();
  }
  return *s.chain;
}

void Relay::tools_changed(std::string_view server) {
  const json::object note = jsonrpc::make_notification(mcp::method::kToolsListChanged,
                                                       json::object());
  for (auto& [id, s] : sessions_) {
    if (s->initialized && !s->closed && s->in_view(server)) {
      deliver(*s, nullptr, note);
    }
  }
}

asio::awaitable<std::optional<json::object>> Relay::ask_client(SessionPtr s,
                                                               std::shared_ptr<EventStream> out,
                                                               std::string_view method,
                                                               json::object params,
                                                               Clock::time_point deadline) {
  json::value client_id(fmt::format("mcpgw-{}", s->next_server_request++));
  auto ask = std::make_shared<GatewayAsk>(ex_);
  const std::string key = jsonrpc::id_key(client_id);
  s->server_requests[key] = PendingServerRequest{nullptr, client_id, std::string(method), ask};
  deliver(*s, out, jsonrpc::make_request(client_id, method, std::move(params)));
  co_await ask->done.wait_until(deadline);
  s->server_requests.erase(key);
  co_return std::move(ask->answer);
}

asio::awaitable<json::object> Relay::set_level(SessionPtr s, json::object& req) {
  const json::value id = req.at("id");
  json::object& params = params_of(req);
  const std::string level(string_at(params, "level"));
  const int rank = mcp::log_level_rank(level);
  if (rank < 0) {
    co_return jsonrpc::make_error(id, rpc_code::kInvalidParams,
                                  fmt::format("Unknown logging level: {}", level));
  }
  s->log_rank = rank;
  // Servers shared by many sessions get the most verbose level any of them asked for; each
  // session is then filtered to its own level on delivery.
  for (const auto& name : s->view) {
    BackendSlot* slot = slot_for(*s, name);
    if (slot == nullptr || !slot->backend || !has_capability(*slot->backend, "logging")) {
      continue;
    }
    int min_rank = rank;
    for_each_session_of(*slot, [&](Session& other) {
      if (other.log_rank >= 0) {
        min_rank = std::min(min_rank, other.log_rank);
      }
    });
    static constexpr const char* kLevels[] = {"debug", "info", "notice", "warning",
                                              "error", "critical", "alert", "emergency"};
    json::object p;
    p["level"] = kLevels[min_rank];
    slot->backend->send_request(jsonrpc::make_request(0, mcp::method::kLoggingSetLevel, std::move(p)));
  }
  co_return jsonrpc::make_result(id, json::object());
}

asio::awaitable<json::object> Relay::subscribe(SessionPtr s, json::object& req, bool on,
                                               std::shared_ptr<EventStream> out) {
  const json::value id = req.at("id");
  json::object& params = params_of(req);
  const std::string uri(string_at(params, "uri"));
  auto route = route_uri(*s, uri);
  if (uri.empty() || !route) {
    json::object data;
    data["uri"] = uri;
    co_return jsonrpc::make_error(id, -32002, fmt::format("Resource not found: {}", uri),
                                  std::move(data));
  }
  BackendSlot& slot = *route->slot;
  const bool mine = s->subscriptions.count(uri) != 0;
  int& count = slot.subscriptions[route->name];
  // A shared server is subscribed once, however many sessions want the resource.
  if (on) {
    if (mine || count > 0) {
      if (!mine) {
        ++count;
        s->subscriptions.insert(uri);
      }
      co_return jsonrpc::make_result(id, json::object());
    }
  } else {
    if (!mine) {
      if (count == 0) {
        slot.subscriptions.erase(route->name);
      }
      co_return jsonrpc::make_result(id, json::object());
    }
    if (count > 1) {
      --count;
      s->subscriptions.erase(uri);
      co_return jsonrpc::make_result(id, json::object());
    }
  }
  params["uri"] = route->name;
  json::object reply = co_await forward(s, slot, std::move(req), out);
  if (reply.contains("result")) {
    int& c = slot.subscriptions[route->name];
    if (on) {
      ++c;
      s->subscriptions.insert(uri);
    } else {
      s->subscriptions.erase(uri);
      if (--c <= 0) {
        slot.subscriptions.erase(route->name);
      }
    }
  } else if (slot.subscriptions[route->name] <= 0) {
    slot.subscriptions.erase(route->name);
  }
  co_return reply;
}

std::optional<Relay::Route> Relay::route_name(Session& s, std::string_view exposed) {
  return route(s, s.single_server ? mcp::Target{s.view.front(), std::string(exposed)}
                                  : naming_.resolve(exposed));
}

bool Relay::tool_allowed(const Session& s, std::string_view server, std::string_view name) {
  if (!s.principal) {
    return true;
  }
  // Globs match the name as the aggregate endpoint exposes it, on every endpoint alike.
  return s.principal->allows_tool(server, naming_.expose(server, name));
}

std::optional<Relay::Route> Relay::route_uri(Session& s, std::string_view uri) {
  return route(s, s.single_server ? mcp::Target{s.view.front(), std::string(uri)}
                                  : mcp::Naming::resolve_uri(uri));
}

std::optional<Relay::Route> Relay::route(Session& s, std::optional<mcp::Target> target) {
  if (!target || !s.in_view(target->server)) {
    return std::nullopt;
  }
  BackendSlot* slot = slot_for(s, target->server);
  if (slot == nullptr) {
    return std::nullopt;
  }
  return Route{slot, std::move(target->name)};
}

void Relay::expose_uris(json::value& result, std::string_view method,
                        std::string_view server) const {
  if (!result.is_object()) {
    return;
  }
  auto fix_content = [&](json::value& item) {
    if (!item.is_object()) {
      return;
    }
    auto& o = item.get_object();
    const std::string_view type = string_at(o, "type");
    if (type == "resource_link") {
      if (auto* u = o.if_contains("uri"); u && u->is_string()) {
        *u = mcp::Naming::expose_uri(server, u->get_string());
      }
    } else if (type == "resource") {
      if (auto* r = o.if_contains("resource"); r && r->is_object()) {
        if (auto* u = r->get_object().if_contains("uri"); u && u->is_string()) {
          *u = mcp::Naming::expose_uri(server, u->get_string());
        }
      }
    }
  };
  auto& r = result.get_object();
  if (method == mcp::method::kToolsCall) {
    if (auto* content = r.if_contains("content"); content && content->is_array()) {
      for (auto& item : content->get_array()) {
        fix_content(item);
      }
    }
  } else if (method == mcp::method::kPromptsGet) {
    if (auto* messages = r.if_contains("messages"); messages && messages->is_array()) {
      for (auto& msg : messages->get_array()) {
        if (msg.is_object()) {
          if (auto* c = msg.get_object().if_contains("content")) {
            fix_content(*c);
          }
        }
      }
    }
  } else if (method == mcp::method::kResourcesRead) {
    if (auto* contents = r.if_contains("contents"); contents && contents->is_array()) {
      for (auto& c : contents->get_array()) {
        if (c.is_object()) {
          if (auto* u = c.get_object().if_contains("uri"); u && u->is_string()) {
            *u = mcp::Naming::expose_uri(server, u->get_string());
          }
        }
      }
    }
  }
}

void Relay::handle_notification(const SessionPtr& s, json::object msg) {
  s->touch();
  const std::string_view m = jsonrpc::method(msg);
  namespace mm = mcp::method;
  if (m == mm::kInitialized) {
    return;
  }
  if (m == mm::kCancelled) {
    const json::object& params = params_of(msg);
    const json::value* rid = params.if_contains("requestId");
    if (rid == nullptr) {
      return;
    }
    auto it = s->inflight.find(jsonrpc::id_key(*rid));
    if (it == s->inflight.end()) {
      return;  // already answered: the spec says to ignore it
    }
    auto inflight = it->second;
    s->cancelled.insert(it->first);
    if (inflight->slot && inflight->slot->backend && inflight->call) {
      std::string reason(string_at(params, "reason"));
      inflight->slot->backend->cancel(*inflight->call, make_error_code(Errc::cancelled),
                                      reason.empty() ? "cancelled by the client" : reason);
    }
    return;
  }
  if (m == mm::kRootsListChanged) {
    // Only a session's own backends were told about its roots.
    for (auto& [name, slot] : s->isolated) {
      if (slot->backend) {
        slot->backend->send(json::object(msg));
      }
    }
    return;
  }
  spdlog::debug("session {}: ignoring notification {}", s->id, m);
}

void Relay::handle_response(const SessionPtr& s, json::object msg) {
  s->touch();
  auto it = s->server_requests.find(jsonrpc::id_key(msg.at("id")));
  if (it == s->server_requests.end()) {
    spdlog::debug("session {}: response to an unknown request {}", s->id,
                  json::serialize(msg.at("id")));
    return;
  }
  PendingServerRequest pending = std::move(it->second);
  s->server_requests.erase(it);
  if (pending.ask) {
    pending.ask->answer = std::move(msg);
    pending.ask->done.set();
    return;
  }
  if (pending.slot == nullptr || !pending.slot->backend) {
    return;
  }
  pending.slot->server_requests.erase(jsonrpc::id_key(pending.backend_id));
  msg["id"] = pending.backend_id;
  pending.slot->backend->send(std::move(msg));
}

std::size_t Relay::in_flight() const noexcept { return inflight_count_; }

json::object Relay::health() const {
  json::object out;
  out["status"] = "ok";
  out["version"] = MCPGW_VERSION;
  out["sessions"] = sessions_.size();
  const auto now = Clock::now();
  json::object servers;
  std::size_t down = 0;
  for (const auto& server : cfg_.servers) {
    json::object s;
    s["transport"] = config::to_string(server.transport);
    s["isolation"] = config::to_string(server.options.isolation);
    if (server.transport != config::Transport::stdio) {
      s["url"] = redacted_url(server.url);
    }
    auto describe = [&](const upstream::Backend& b) {
      s["state"] = health_state(b);
      if (b.state() != BackendState::ready && !b.last_error().empty()) {
        s["reason"] = b.last_error();
      } else if (!b.degraded().empty()) {
        s["reason"] = b.degraded();
      }
      if (b.pid() != 0) {
        s["pid"] = b.pid();
      }
      s["restarts"] = b.restarts();
      s["inFlight"] = b.in_flight();
    };
    if (server.options.isolation == config::Isolation::session) {
      // One backend per session: count them by state; the worst decides.
      std::map<std::string, std::size_t> states;
      const upstream::Backend* worst = nullptr;
      std::size_t instances = 0;
      auto rank = [](const upstream::Backend& b) {
        const std::string_view st = health_state(b);
        return st == "down" ? 3 : st == "degraded" ? 2 : st == "connecting" ? 1 : 0;
      };
      for (const auto& [id, session] : sessions_) {
        if (auto it = session->isolated.find(server.name); it != session->isolated.end() &&
                                                           it->second->backend) {
          const auto& b = *it->second->backend;
          ++instances;
          ++states[health_state(b)];
          if (worst == nullptr || rank(b) > rank(*worst)) {
            worst = &b;
          }
        }
      }
      s["instances"] = instances;
      if (worst != nullptr) {
        describe(*worst);
        s.erase("pid");
        json::object by_state;
        for (const auto& [st, n] : states) {
          by_state[st] = n;
        }
        s["instanceStates"] = std::move(by_state);
      } else if (auto st = status_.find(server.name); st != status_.end()) {
        // No session has one now: what the last one reported.
        s["state"] = st->second.state == BackendState::restarting ? "down"
                     : st->second.state == BackendState::ready    ? "ready"
                                                                  : "idle";
        if (!st->second.reason.empty()) {
          s["reason"] = st->second.reason;
        }
      } else {
        s["state"] = "idle";  // per-session: connected when a session first uses it
      }
    } else if (auto it = shared_.find(server.name); it != shared_.end() && it->second->backend) {
      describe(*it->second->backend);
      if (const auto& tools = it->second->lists[0].items) {
        s["tools"] = tools->size();
      }
    }
    if (auto st = status_.find(server.name); st != status_.end()) {
      s["sinceMs"] = std::chrono::duration_cast<std::chrono::milliseconds>(now - st->second.since).count();
    }
    if (s["state"] == "down") {
      ++down;
    }
    servers[server.name] = std::move(s);
  }
  if (down > 0) {
    out["status"] = down == cfg_.servers.size() ? "down" : "degraded";
  }
  out["servers"] = std::move(servers);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Messages from servers

template <class F>
void Relay::for_each_session_of(BackendSlot& slot, F&& f) {
  if (slot.owner != nullptr) {
    if (!slot.owner->closed) {
      f(*slot.owner);
    }
    return;
  }
  for (auto& [id, s] : sessions_) {
    if (s->in_view(slot.cfg.name) && s->initialized) {
      f(*s);
    }
  }
}

std::optional<Relay::Target> Relay::attribute(BackendSlot& slot, bool& ambiguous) {
  ambiguous = false;
  InFlight* newest = nullptr;
  Session* who = nullptr;
  for (InFlight* f : slot.inflight) {
    auto session = f->session.lock();
    if (!session || session->closed) {
      continue;
    }
    if (who != nullptr && who != session.get()) {
      ambiguous = true;
    }
    who = session.get();
    if (newest == nullptr || f->order > newest->order) {
      newest = f;
    }
  }
  if (slot.owner != nullptr) {
    // An isolated backend has exactly one client.
    if (slot.owner->closed) {
      return std::nullopt;
    }
    ambiguous = false;
    return Target{slot.owner->shared_from_this(), newest ? newest->out : nullptr};
  }
  if (ambiguous || newest == nullptr) {
    return std::nullopt;
  }
  return Target{newest->session.lock(), newest->out};
}

void Relay::deliver(Session& s, const std::shared_ptr<EventStream>& preferred,
                    const json::object& msg) {
  std::string text = jsonrpc::serialize(msg);
  if (preferred && preferred->sse_ok() && !preferred->finished()) {
    preferred->push(std::move(text));
  } else {
    s.standalone()->push(std::move(text));
  }
}

void Relay::notify_sessions(BackendSlot& slot, std::string_view method) {
  const json::object note = jsonrpc::make_notification(method, json::object());
  for_each_session_of(slot, [&](Session& s) { deliver(s, nullptr, note); });
}

void Relay::on_backend_message(BackendSlot& slot, json::object&& msg) {
  const std::string m(jsonrpc::method(msg));
  namespace mm = mcp::method;
  if (msg.contains("id")) {
    forward_server_request(slot, std::move(msg));
    return;
  }
  json::object& params = params_of(msg);
  if (m == mm::kProgress) {
    const json::value* token = params.if_contains("progressToken");
    if (token == nullptr || !(token->is_int64() || token->is_uint64())) {
      return;
    }
    auto it = progress_.find(token->is_int64() ? token->get_int64()
                                               : static_cast<std::int64_t>(token->get_uint64()));
    if (it == progress_.end()) {
      return;  // the request already finished
    }
    auto session = it->second.session.lock();
    if (!session || session->closed) {
      return;
    }
    params["progressToken"] = it->second.client_token;
    deliver(*session, it->second.out.lock(), msg);
    return;
  }
  if (m == mm::kCancelled) {
    // The server gave up on one of its own requests to a client.
    const json::value* rid = params.if_contains("requestId");
    if (rid == nullptr) {
      return;
    }
    auto it = slot.server_requests.find(jsonrpc::id_key(*rid));
    if (it == slot.server_requests.end()) {
      return;
    }
    auto route = std::move(it->second);
    slot.server_requests.erase(it);
    if (auto session = route.session.lock(); session && !session->closed) {
      session->server_requests.erase(jsonrpc::id_key(route.client_id));
      params["requestId"] = route.client_id;
      deliver(*session, nullptr, msg);
    }
    return;
  }
  if (m == mm::kToolsListChanged || m == mm::kPromptsListChanged ||
      m == mm::kResourcesListChanged) {
    if (m == mm::kToolsListChanged) {
      slot.cache(ListKind::tools) = ListCache{};
    } else if (m == mm::kPromptsListChanged) {
      slot.cache(ListKind::prompts) = ListCache{};
    } else {
      slot.cache(ListKind::resources) = ListCache{};
      slot.cache(ListKind::templates) = ListCache{};
    }
    notify_sessions(slot, m);
    return;
  }
  if (m == mm::kResourcesUpdated) {
    const std::string uri(string_at(params, "uri"));
    for_each_session_of(slot, [&](Session& s) {
      const std::string exposed =
          s.single_server ? uri : mcp::Naming::expose_uri(slot.cfg.name, uri);
      if (s.subscriptions.count(exposed) != 0) {
        json::object copy = msg;
        copy["params"].as_object()["uri"] = exposed;
        deliver(s, nullptr, copy);
      }
    });
    return;
  }
  // Logging and anything else: to the session whose request is running, else to every
  // session that sees this server (a shared server's log is shared).
  const int rank = m == mm::kMessage ? mcp::log_level_rank(string_at(params, "level")) : -1;
  bool ambiguous = false;
  if (auto target = attribute(slot, ambiguous)) {
    if (rank < 0 || rank >= target->session->log_rank) {
      deliver(*target->session, target->out, msg);
    }
    return;
  }
  for_each_session_of(slot, [&](Session& s) {
    if (rank < 0 || rank >= s.log_rank) {
      deliver(s, nullptr, msg);
    }
  });
}

void Relay::forward_server_request(BackendSlot& slot, json::object&& msg) {
  const std::string m(jsonrpc::method(msg));
  const json::value backend_id = msg.at("id");
  auto answer_error = [&](int code, std::string message) {
    slot.backend->send(jsonrpc::make_error(backend_id, code, message));
  };
  if (m == mcp::method::kPing) {
    slot.backend->send(jsonrpc::make_result(backend_id, json::object()));
    return;
  }
  bool ambiguous = false;
  auto target = attribute(slot, ambiguous);
  if (!target) {
    spdlog::warn("[{}] {}: {}", slot.cfg.name, m,
                 ambiguous ? "several client sessions are using this shared server; cannot tell "
                             "which one this request is for"
                           : "no client session is waiting on this server");
    answer_error(rpc_code::kInternalError,
                 ambiguous ? fmt::format("mcpgw: cannot tell which client session this {} is for "
                                         "(several share server '{}'; set gateway.servers.{}."
                                         "isolation to \"session\")", m, slot.cfg.name,
                                         slot.cfg.name)
                           : fmt::format("mcpgw: no client session is waiting on server '{}'",
                                         slot.cfg.name));
    return;
  }
  Session& s = *target->session;
  const char* needed = m == mcp::method::kSamplingCreateMessage ? "sampling"
                       : m == mcp::method::kElicitationCreate ? "elicitation"
                       : m == mcp::method::kRootsList        ? "roots"
                                                             : nullptr;
  if (needed != nullptr && !s.client_capabilities.contains(needed)) {
    answer_error(rpc_code::kMethodNotFound, fmt::format("Client does not support {}", needed));
    return;
  }
  // Server request ids are per server; clients see one id space per session.
  json::value client_id(fmt::format("mcpgw-{}", s.next_server_request++));
  s.server_requests[jsonrpc::id_key(client_id)] = PendingServerRequest{&slot, backend_id, m};
  slot.server_requests[jsonrpc::id_key(backend_id)] =
      BackendSlot::ServerRequestRoute{target->session, client_id};
  msg["id"] = client_id;
  deliver(s, target->out, msg);
}

void Relay::on_backend_state(BackendSlot& slot, upstream::BackendState state) {
  if (state != BackendState::stopped) {
    auto& st = status_[slot.cfg.name];
    if (st.state != state) {
      st.since = Clock::now();
    }
    st.state = state;
    st.reason = slot.backend ? slot.backend->last_error() : std::string();
  }
  if (state != BackendState::ready) {
    return;
  }
  if (!slot.ever_ready) {
    slot.ever_ready = true;
    // Sessions that got a list without this server (it was not up yet) hear that it changed.
    for (ListKind kind : {ListKind::tools, ListKind::prompts, ListKind::resources}) {
      if (slot.cache(kind).served_partial) {
        slot.cache(kind).served_partial = false;
        notify_sessions(slot, info(kind).changed);
      }
    }
    return;
  }
  // Back after a restart: what it serves may have changed, and it forgot subscriptions.
  for (auto& c : slot.lists) {
    c = ListCache{};
  }
  slot.server_requests.clear();
  for (const auto& [uri, count] : slot.subscriptions) {
    json::object params;
    params["uri"] = uri;
    slot.backend->send_request(jsonrpc::make_request(0, mcp::method::kResourcesSubscribe,
                                                     std::move(params)));
  }
  notify_sessions(slot, mcp::method::kToolsListChanged);
  if (slot.backend->info().capabilities.contains("prompts")) {
    notify_sessions(slot, mcp::method::kPromptsListChanged);
  }
  if (slot.backend->info().capabilities.contains("resources")) {
    notify_sessions(slot, mcp::method::kResourcesListChanged);
  }
}

}  // namespace mcpgw::relay
