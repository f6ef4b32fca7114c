// The relay: lifecycle, sessions, and what clients send besides requests.
#include "relay/relay.hpp"
#include "relay/util.hpp"
#include "access/authenticator.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/random.hpp"
#include "common/text.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::relay {

using upstream::BackendState;

// ---------------------------------------------------------------------------------------------
// BackendSlot

BackendSlot::BackendSlot(Relay& relay_, std::shared_ptr<const config::ServerConfig> cfg_,
                         Session* owner_)
    : ServerSlot(std::move(cfg_)), relay(relay_), owner(owner_) {}

BackendSlot::~BackendSlot() = default;

void BackendSlot::on_backend_message(upstream::Backend&, json::object&& msg) {
  relay.on_backend_message(*this, std::move(msg));
}

void BackendSlot::on_backend_state(upstream::Backend&, upstream::BackendState state) {
  relay.on_backend_state(*this, state);
}


// ---------------------------------------------------------------------------------------------
// Relay: lifecycle

Relay::Relay(asio::any_io_executor ex, const config::Config& cfg)
    : ex_(ex), cfg_(cfg), pool_(ex, cfg), naming_(cfg.gateway.separator) {
  for (const auto& server : cfg.servers) {
    servers_.emplace(server.name, std::make_shared<const config::ServerConfig>(server));
  }
  note_kept_authorization();
}

Relay::~Relay() = default;

json::object gateway_client_info() {
  json::object info;
  info["name"] = "mcpgw";
  info["version"] = MCPGW_VERSION;
  return info;
}

void Relay::note_kept_authorization() {
  keeps_authorization_ = std::any_of(servers_.begin(), servers_.end(), [](const auto& entry) {
    const auto& s = *entry.second;
    return s.options.forward_authorization ||
           s.options.auth.type == config::UpstreamAuth::Type::token_exchange;
  });
}

void Relay::start() {
  for (const auto& server : cfg_.servers) {
    start_shared(servers_.at(server.name));
  }
  start_probes();
  asio::co_spawn(ex_, reap_idle(), asio::detached);
}

void Relay::start_shared(const std::shared_ptr<const config::ServerConfig>& server) {
  if (server->options.isolation == config::Isolation::session) {
    return;
  }
  auto slot = std::make_shared<BackendSlot>(*this, server, nullptr);
  // A shared backend serves many sessions: it may ask for sampling and elicitation (routed to
  // the session that caused them) but not roots (whose roots would it be?).
  upstream::ClientIdentity identity;
  identity.capabilities["sampling"] = json::object();
  identity.capabilities["elicitation"] = json::object();
  identity.client_info = gateway_client_info();
  slot->backend = pool_.make(*server, std::move(identity), *slot);
  slot->backend->start();
  shared_[server->name] = std::move(slot);
}

void Relay::start_probes() {
  if (probes_) {
    asio::co_spawn(ex_, [old = probes_]() { return old->stop(); }, asio::detached);
  }
  upstream::ClientIdentity probe;  // asks for nothing: sampling and elicitation need a user
  probe.client_info = gateway_client_info();
  probes_ = std::make_shared<upstream::Probes>(ex_, pool_, cfg_, std::move(probe));
  probes_->start();
}

asio::awaitable<void> Relay::stop() {
  stopping_ = true;
  if (probes_) {
    co_await probes_->stop();
  }
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
  for (const auto& slot : retiring_) {
    backends.push_back(slot->backend);  // taken out of service by a reload, still draining
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
  asio::steady_timer timer(ex_);
  while (!stopping_) {
    const auto idle = cfg_.gateway.timeouts.session_idle;  // read anew: a reload may change it
    const auto period = std::min<Clock::duration>(idle / 4, std::chrono::seconds(30));
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

boost::system::result<SessionPtr> Relay::create_session(SessionSpec spec) {
  std::string id = new_session_id(spec);
  return admit_session(std::move(id), std::move(spec));
}

void Relay::saw_authorization(Session& s, std::string_view authorization) const {
  if (!keeps_authorization()) {
    return;
  }
  const auto token = access::bearer_value(authorization);
  if (!token.empty() && token != *s.caller_token) {
    *s.caller_token = token;
  }
}

boost::system::result<SessionPtr> Relay::admit_session(std::string id, SessionSpec spec) {
  if (stopping_) {
    return make_error_code(Errc::shutting_down);
  }
  if (sessions_.size() >= cfg_.gateway.limits.max_sessions) {
    return make_error_code(Errc::too_many_sessions);
  }
  if (!spec.owner.empty() &&
      sessions_per_owner_[spec.owner] >= cfg_.gateway.limits.max_sessions_per_client) {
    return make_error_code(Errc::too_many_client_sessions);
  }
  if (!keeps_authorization()) {
    spec.authorization.clear();  // kept only for a server that receives or exchanges it
  }
  spec.handshake = nullptr;
  auto s = std::make_shared<Session>(ex_, std::move(id), std::move(spec),
                                     cfg_.gateway.limits.replay_events);
  if (shared_events_ && s->transport == ClientTransport::streamable_http) {
    s->share_events(shared_events_);
  }
  if (!s->owner.empty()) {
    ++sessions_per_owner_[s->owner];
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
  if (!s || s->closed_) {
    return;
  }
  s->closed_ = true;
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
  end_listens(*s);
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
  const auto found = servers_.find(server);
  if (found == servers_.end()) {
    return nullptr;
  }
  const auto& cfg = found->second;
  if (cfg->options.isolation == config::Isolation::shared) {
    auto it = shared_.find(cfg->name);
    return it == shared_.end() ? nullptr : it->second.get();
  }
  if (auto it = s.isolated.find(cfg->name); it != s.isolated.end()) {
    return it->second.get();
  }
  if (s.closed() || stopping_) {
    return nullptr;
  }
  // This session's own backend: it speaks for this one client, so it gets the client's
  // capabilities (roots included) and identity.
  auto slot = std::make_shared<BackendSlot>(*this, cfg, &s);
  upstream::ClientIdentity identity;
  identity.capabilities = s.answerable_capabilities();
  identity.client_info = s.client_info().empty() ? gateway_client_info() : s.client_info();
  if (cfg->options.forward_authorization) {
    identity.authorization = s.authorization;
  }
  if (auto it = s.passed_headers.find(cfg->name); it != s.passed_headers.end()) {
    identity.headers = it->second;
  }
  // Only the token that authenticated the caller is exchanged: an API key's caller has none,
  // whatever else its Authorization holds.
  const bool by_token = s.principal && s.principal->name.starts_with("jwt:");
  identity.credential =
      pool_.credential(*cfg, by_token ? s.caller_token : std::make_shared<const std::string>(),
                       s.principal ? s.principal->name : std::string());
  if (!cfg->user_secrets.empty()) {
    identity.principal = s.principal ? s.principal->name : std::string();
    identity.vault = vault_;
    identity.public_url = pool_.public_url();
  }
  slot->backend = pool_.make(*cfg, std::move(identity), *slot);
  if (slot->backend) {
    slot->backend->start();
  }
  auto* raw = slot.get();
  s.isolated[cfg->name] = std::move(slot);
  return raw;
}


std::shared_ptr<upstream::OAuthClient> Relay::oauth_client(std::string_view name) {
  const auto* cfg = cfg_.find(name);
  return cfg != nullptr ? pool_.oauth(*cfg) : nullptr;
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
  if (!gate_answer(*s, *pending.slot, pending.method, msg, pending.backend_id)) {
    return;  // the server has the gate's refusal instead
  }
  msg["id"] = pending.backend_id;
  pending.slot->backend->send(std::move(msg));
}

std::size_t Relay::in_flight() const noexcept { return inflight_count_; }

}  // namespace mcpgw::relay
