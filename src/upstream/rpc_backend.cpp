#include "upstream/rpc_backend.hpp"

#include "common/text.hpp"
#include "access/vault.hpp"
#include "upstream/consent_link.hpp"
#include "upstream/credential.hpp"

#include "common/error.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpgw::upstream {

namespace {
constexpr auto kInitialBackoff = std::chrono::milliseconds(250);

/// Wire ids are unique across every backend of the process, not only within one: a server
/// that wrongly sends a reply to all its connections (some SSE bridges do) then cannot
/// complete another session's call with it.
std::int64_t next_wire_id() {
  static std::int64_t next = 1;
  return next++;
}
constexpr auto kStableRun = std::chrono::seconds(60);
}  // namespace

const char* to_string(BackendState s) noexcept {
  switch (s) {
    case BackendState::starting: return "starting";
    case BackendState::ready: return "ready";
    case BackendState::restarting: return "restarting";
    case BackendState::stopped: return "stopped";
  }
  return "?";
}

RpcBackend::RpcBackend(asio::any_io_executor ex, const config::ServerConfig& server,
                       const config::GatewayConfig& gateway, ClientIdentity identity,
                       BackendListener& listener)
    : ex_(ex), server_(server), gateway_(gateway), identity_(std::move(identity)),
      listener_(listener), ready_(ex), stopped_(ex), wake_(ex) {}

RpcBackend::~RpcBackend() = default;

void RpcBackend::set_state(BackendState s) {
  if (state_ == s) {
    return;
  }
  state_ = s;
  if (s != BackendState::ready) {
    ready_.reset();
    ready_.notify();  // waiters re-check: an attempt that failed ends their wait
  }
  if (!listener_gone_) {
    listener_.on_backend_state(*this, s);
  }
}

void RpcBackend::became_ready() {
  last_error_.clear();
  degraded_.clear();
  failures_ = 0;
  set_state(BackendState::ready);
  ready_.set();
}

void RpcBackend::set_degraded(std::string reason) {
  if (degraded_ != reason) {
    spdlog::warn("[{}] degraded: {}", server_.name, reason);
  }
  degraded_ = std::move(reason);
}

void RpcBackend::start() {
  if (started_) {
    return;
  }
  started_ = true;
  asio::co_spawn(ex_, [self = shared_from_this()]() { return self->supervise(); },
                 asio::detached);
}

asio::awaitable<void> RpcBackend::supervise() {
  auto backoff = std::chrono::milliseconds(kInitialBackoff);
  while (!stopping_) {
    const auto began = Clock::now();
    const bool was_ready = co_await run_once();
    if (stopping_) {
      break;
    }
    if (was_ready) {
      ++restarts_;
      failures_ = 0;
      if (Clock::now() - began > kStableRun) {
        backoff = kInitialBackoff;
      }
    } else {
      ++failures_;
    }
    set_state(BackendState::restarting);
    spdlog::warn("[{}] {}; {} in {} ms", server_.name, without_param(last_error_, "ticket"),
                 server_.transport == config::Transport::stdio ? "restarting" : "reconnecting",
                 backoff.count());
    wake_.reset();
    co_await wake_.wait_until(Clock::now() + backoff);
    backoff = std::min(backoff * 2, gateway_.timeouts.restart_max_backoff);
  }
  set_state(BackendState::stopped);
  stopped_.set();
}

asio::awaitable<std::optional<json::object>> RpcBackend::handshake_call(
    json::object request, Clock::time_point deadline, Handshake& failure) {
  const std::string method(jsonrpc::method(request));
  auto call = std::make_shared<Call>(ex_);
  call->wire_id = next_wire_id();
  request["id"] = call->wire_id;
  pending_[call->wire_id] = call;
  transmit(std::move(request), call->wire_id);
  const bool answered = co_await call->done.wait_until(deadline);
  if (!answered) {
    pending_.erase(call->wire_id);
    abandon(call->wire_id);
    last_error_ = fmt::format("no answer to {} within {} ms", method,
                              std::chrono::duration_cast<std::chrono::milliseconds>(
                                  gateway_.timeouts.startup).count());
    failure = Handshake::no_answer;
    co_return std::nullopt;
  }
  if (call->ec) {
    last_error_ = call->detail.empty() ? call->ec.message() : call->detail;
    failure = Handshake::transport_failed;
    co_return std::nullopt;
  }
  co_return std::move(*call->response);
}

asio::awaitable<RpcBackend::Handshake> RpcBackend::handshake(Clock::time_point deadline) {
  modern_ = false;
  json::object params;
  if (identity_.protocol_version.empty()) {
    params["protocolVersion"] = mcp::kLatestVersion;
  } else {
    params["protocolVersion"] = identity_.protocol_version;
  }
  params["capabilities"] = identity_.capabilities;
  params["clientInfo"] = identity_.client_info;
  Handshake failure = Handshake::ok;
  auto response = co_await handshake_call(
      jsonrpc::make_request(0, mcp::method::kInitialize, std::move(params)), deadline, failure);
  if (!response) {
    co_return failure;
  }
  if (const auto* e = response->if_contains("error")) {
    if (e->is_object() && mcp::refuses_for_modern(e->get_object()) &&
        identity_.protocol_version.empty()) {
      co_return co_await discover(deadline);  // a server of the stateless revision only
    }
    last_error_ = fmt::format("initialize failed: {}", json::serialize(*e));
    co_return Handshake::refused;
  }
  const auto* r = response->if_contains("result");
  if (r == nullptr || !r->is_object()) {
    last_error_ = "initialize answered without a result object";
    co_return Handshake::refused;
  }
  const auto& res = r->get_object();
  info_ = InitInfo{};
  if (const auto* v = res.if_contains("protocolVersion"); v && v->is_string()) {
    info_.protocol_version = std::string(v->get_string());
  }
  read_description(res);
  if (const auto* v = res.if_contains("serverInfo"); v && v->is_object()) {
    info_.server_info = v->get_object();
  }
  transmit(jsonrpc::make_notification(mcp::method::kInitialized, {}), 0);
  co_return Handshake::ok;
}

asio::awaitable<RpcBackend::Handshake> RpcBackend::discover(Clock::time_point deadline) {
  modern_ = true;  // from now on every request carries the envelope
  json::object request = jsonrpc::make_request(0, mcp::method::kServerDiscover, json::object());
  mcp::put_envelope(request, identity_.client_info, identity_.capabilities);
  Handshake failure = Handshake::ok;
  auto response = co_await handshake_call(std::move(request), deadline, failure);
  if (!response) {
    modern_ = false;
    co_return failure;
  }
  const auto* r = response->if_contains("result");
  const auto* versions = r != nullptr && r->is_object()
                             ? r->get_object().if_contains("supportedVersions")
                             : nullptr;
  const bool speaks = versions != nullptr && versions->is_array() &&
                      std::any_of(versions->get_array().begin(), versions->get_array().end(),
                                  [](const json::value& v) {
                                    return v.is_string() && v.get_string() == mcp::kModernVersion;
                                  });
  if (!speaks) {
    modern_ = false;
    last_error_ = fmt::format("the server refused initialize for {} and server/discover "
                              "offers no revision the gateway speaks: {}",
                              mcp::kLatestVersion, json::serialize(*response));
    co_return Handshake::refused;
  }
  const auto& res = r->get_object();
  info_ = InitInfo{};
  info_.protocol_version = std::string(mcp::kModernVersion);
  read_description(res);
  if (const auto* m = res.if_contains("_meta"); m && m->is_object()) {
    if (const auto* v = m->get_object().if_contains(mcp::meta::kServerInfo); v && v->is_object()) {
      info_.server_info = v->get_object();
    }
  }
  co_return Handshake::ok;
}

json::object RpcBackend::listen_request() const {
  if (!modern_) {
    return {};
  }
  json::object filter;
  for (auto [kind, key] : {std::pair{"tools", "toolsListChanged"},
                           std::pair{"prompts", "promptsListChanged"},
                           std::pair{"resources", "resourcesListChanged"}}) {
    const auto* c = info_.capabilities.if_contains(kind);
    const auto* changes = c != nullptr && c->is_object() ? c->get_object().if_contains("listChanged")
                                                         : nullptr;
    if (changes != nullptr && changes->is_bool() && changes->get_bool()) {
      filter[key] = true;
    }
  }
  if (!listened_resources_.empty()) {
    json::array uris;
    for (const auto& uri : listened_resources_) {
      uris.emplace_back(uri);
    }
    filter["resourceSubscriptions"] = std::move(uris);
  }
  if (filter.empty()) {
    return {};
  }
  json::object params;
  params["notifications"] = std::move(filter);
  json::object request = jsonrpc::make_request(
      json::value(fmt::format("mcpgw-listen-{}", listens_)), mcp::method::kSubscriptionsListen,
      std::move(params));
  mcp::put_envelope(request, identity_.client_info, identity_.capabilities);
  return request;
}

bool RpcBackend::listen_for_resources(std::set<std::string> uris) {
  if (!modern_) {
    return false;
  }
  if (uris != listened_resources_) {
    listened_resources_ = std::move(uris);
    relisten();
  }
  return true;
}

void RpcBackend::read_description(const json::object& res) {
  if (const auto* v = res.if_contains("capabilities"); v && v->is_object()) {
    info_.capabilities = v->get_object();
  }
  if (const auto* v = res.if_contains("instructions"); v && v->is_string()) {
    info_.instructions = std::string(v->get_string());
  }
}

void RpcBackend::deliver(json::value&& parsed) {
  auto handle = [this](json::value& v) {
    std::string_view why;
    const auto kind = jsonrpc::classify(v, &why);
    if (kind == jsonrpc::Kind::invalid) {
      spdlog::warn("[{}] ignoring an invalid JSON-RPC message ({}): {}", server_.name, why,
                   json::serialize(v).substr(0, 2000));
      return;
    }
    auto& obj = v.get_object();
    if (kind == jsonrpc::Kind::response) {
      const auto& id = obj.at("id");
      std::int64_t wire = 0;
      if (id.is_int64()) {
        wire = id.get_int64();
      } else if (id.is_uint64()) {
        wire = static_cast<std::int64_t>(id.get_uint64());
      }
      auto it = pending_.find(wire);
      if (it == pending_.end()) {
        spdlog::debug("[{}] response to unknown or abandoned request {}", server_.name,
                      json::serialize(id));
        return;
      }
      CallPtr call = std::move(it->second);
      pending_.erase(it);
      degraded_.clear();  // the server answers again
      call->response = std::move(obj);
      call->done.set();
      return;
    }
    if (!listener_gone_) {
      listener_.on_backend_message(*this, std::move(obj));
    }
  };
  if (parsed.is_array()) {  // a 2025-03-26 batch
    for (auto& item : parsed.get_array()) {
      handle(item);
    }
  } else {
    handle(parsed);
  }
}

void RpcBackend::fail_unusable(std::string_view text, std::string_view why) {
  if (const auto id = jsonrpc::scan_id(text); id && is_pending(*id)) {
    fail_call(*id, make_error_code(Errc::upstream_protocol),
              fmt::format("server '{}' sent a reply that cannot be read: {}",
                          server_.name, why));
  }
}

void RpcBackend::fail_call(std::int64_t wire_id, boost::system::error_code ec, std::string detail,
                           bool unsent) {
  auto it = pending_.find(wire_id);
  if (it == pending_.end()) {
    return;
  }
  CallPtr call = std::move(it->second);
  pending_.erase(it);
  call->ec = ec;
  call->detail = std::move(detail);
  call->unsent = unsent;
  call->done.set();
}

void RpcBackend::fail_pending(boost::system::error_code ec, const std::string& detail) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, call] : pending) {
    abandon(id);
    call->ec = ec;
    call->detail = detail;
    call->done.set();
  }
}

void RpcBackend::fail_outstanding(Errc ec) {
  fail_pending(make_error_code(stopping_ ? Errc::shutting_down : ec),
               fmt::format("server '{}' {}", server_.name, stopping_ ? "is stopping" : last_error_));
}

asio::awaitable<void> RpcBackend::serve_until(std::shared_ptr<Event> ended,
                                              const std::string& reason) {
  while (!stopping_ && !ended->is_set()) {
    co_await ended->wait_until(Clock::time_point::max());
  }
  if (!stopping_) {
    set_state(BackendState::restarting);
    last_error_ = reason;
    spdlog::error("[{}] {}", server_.name, without_param(last_error_, "ticket"));
  }
}

asio::awaitable<void> RpcBackend::stop() {
  auto keep = shared_from_this();
  if (!started_) {
    co_return;
  }
  if (!stopping_) {
    stopping_ = true;
    ready_.reset();
    wake_.set();
    begin_stop();
    if (state_ == BackendState::starting) {
      // A handshake in progress would wait for its startup deadline: end it now.
      fail_pending(make_error_code(Errc::shutting_down), "stopping");
    }
  }
  // A second caller waits for the same end as the first.
  co_await stopped_.wait_until(Clock::now() + stop_grace());
  co_await finish_stop();
  // Whoever called stop() may now destroy the listener (a closed session's slot), while the
  // supervisor, if it outlived the grace, still winds down: it must not report to it.
  listener_gone_ = true;
}

std::string RpcBackend::upstream_identity() const {
  if (identity_.credential) {
    return identity_.credential->describe();
  }
  if (!identity_.authorization.empty()) {
    return "the caller's own Authorization (forwardAuthorization)";
  }
  if (!server_.user_secrets.empty()) {
    return "vault values of " + identity_.principal;
  }
  if (!identity_.headers.empty()) {
    return "headers the caller passed (passHeaders)";
  }
  return {};
}

void RpcBackend::retry_now() {
  if (state_ == BackendState::restarting && !stopping_) {
    failures_ = 0;  // not down while it tries: waiters wait for this attempt
    wake_.set();
  }
}

asio::awaitable<bool> RpcBackend::read_user_secrets(std::map<std::string, std::string>& values) {
  waits_for_user_ = false;
  if (!identity_.vault) {
    last_error_ = "the gateway has no vault to read the caller's values from";
    co_return false;
  }
  if (identity_.principal.empty()) {
    last_error_ = "it needs the caller's own values, and this caller is anonymous";
    co_return false;
  }
  auto found = co_await identity_.vault->read(identity_.principal, server_.user_secrets);
  if (!found.error.empty()) {
    last_error_ = "cannot read the vault: " + found.error;
    co_return false;
  }
  if (!found.missing.empty()) {
    waits_for_user_ = true;
    const std::string& name = found.missing.front();
    consent_link_ = identity_.public_url.empty()
                        ? std::string()
                        : consent_link(identity_.public_url, identity_.vault->sealer(),
                                       identity_.principal, server_.name);
    last_error_ = fmt::format(
        "it needs your secret \"{0}\" (user {1}), which is not in the vault: set it with "
        "`mcpgw secrets set --user {1} --key {0}` (the value on stdin){2}{3}, then call again",
        name, identity_.principal, consent_link_.empty() ? "" : ", or at ", consent_link_);
    co_return false;
  }
  values = std::move(found.values);
  co_return true;
}

asio::awaitable<bool> RpcBackend::wait_ready(Clock::time_point deadline) {
  auto keep = shared_from_this();
  while (state_ != BackendState::ready) {
    if (stopping_ || down() || Clock::now() >= deadline) {
      co_return false;
    }
    co_await ready_.wait_until(deadline);
  }
  co_return true;
}

CallPtr RpcBackend::send_request(json::object&& request,
                                 std::vector<std::pair<std::string, std::string>> headers) {
  auto call = std::make_shared<Call>(ex_);
  call->headers = std::move(headers);
  if (state_ != BackendState::ready) {
    call->ec = make_error_code(stopping_ ? Errc::shutting_down : Errc::upstream_unavailable);
    call->detail = last_error_.empty() ? fmt::format("server '{}' is {}", server_.name,
                                                     to_string(state_))
                                       : fmt::format("server '{}' is {}: {}", server_.name,
                                                     to_string(state_), last_error_);
    call->done.set();
    return call;
  }
  call->wire_id = next_wire_id();
  request["id"] = call->wire_id;
  if (modern_ && mcp::meta_version(request).empty()) {
    mcp::put_envelope(request, identity_.client_info, identity_.capabilities);
  }
  pending_[call->wire_id] = call;
  transmit(std::move(request), call->wire_id);
  return call;
}

void RpcBackend::cancel(Call& call, boost::system::error_code ec, std::string_view reason) {
  if (pending_.erase(call.wire_id) == 0) {
    return;  // already answered or failed
  }
  abandon(call.wire_id);
  json::object params;
  params["requestId"] = call.wire_id;
  params["reason"] = reason;
  send(jsonrpc::make_notification(mcp::method::kCancelled, std::move(params)));
  if (ec == make_error_code(Errc::upstream_timeout)) {
    set_degraded(std::string(reason));
  }
  call.ec = ec;
  call.detail = std::string(reason);
  call.done.set();
}

void RpcBackend::send(json::object&& message) {
  if (state_ != BackendState::ready) {
    spdlog::debug("[{}] not ready; dropping {}", server_.name, jsonrpc::method(message));
    return;
  }
  transmit(std::move(message), 0);
}

}  // namespace mcpgw::upstream
