// Handlers that reach a server: forwarding a request, logging levels, subscriptions.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "common/error.hpp"
#include "common/random.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::relay {

using upstream::BackendState;

namespace {

json::object error_reply(const json::value& id, const boost::system::error_code& ec,
                         std::string_view detail) {
  return jsonrpc::make_error(id, to_rpc_code(ec), detail.empty() ? ec.message() : detail);
}

/// The caller must connect their account at `url` before `server` can serve them: a URL
/// elicitation (2025-11-25) that clients can open for the user; `detail` says it in words.
json::object consent_required(const json::value& id, const std::string& server,
                              const std::string& url, std::string_view detail) {
  json::object elicitation;
  elicitation["mode"] = "url";
  elicitation["elicitationId"] = "mcpgw-connect-" + random_hex(8);
  elicitation["url"] = url;
  elicitation["message"] = fmt::format(
      "Server '{}' needs something only you can give: connect your account, or give your "
      "value, on this page, then try again.", server);
  auto reply = jsonrpc::make_error(id, rpc_code::kUrlElicitationRequired, detail);
  json::object data;
  data["elicitations"] = json::array{std::move(elicitation)};
  reply["error"].as_object()["data"] = std::move(data);
  return reply;
}

}  // namespace

asio::awaitable<json::object> Relay::forward(Exchange& ex) {
  BackendSlot& slot = *ex.slot;
  auto backend = slot.backend;  // keeps the backend alive across the awaits
  const auto timeout = slot.cfg->options.call_timeout.value_or(cfg_.gateway.timeouts.call);
  const auto deadline = Clock::now() + timeout;
  if (ex.audit) {
    ex.audit->upstream = backend->upstream_identity();  // which of the caller's identities
  }
  if (auto refusal = co_await not_ready(ex, deadline)) {
    co_return std::move(*refusal);
  }
  json::object req = std::move(ex.request);
  const auto token = gateway_progress_token(ex, req);
  // A server of the stateless revision may ask for input: its retries repeat the request.
  const bool modern = backend->info().protocol_version == mcp::kModernVersion;
  std::vector<std::pair<std::string, std::string>> headers;
  if (modern) {
    put_modern_envelope(ex, req);
    headers = co_await param_headers(ex, req, modern);
  }
  auto span = trace_upstream(ex, req, headers);
  std::optional<json::object> original;
  if (modern) {
    original = req;
  }
  auto inflight = track(ex);
  const auto started = Clock::now();
  auto call = backend->send_request(std::move(req), headers);
  inflight->call = call;
  const bool answered = co_await call->done.wait_until(deadline);
  end_upstream(std::move(span), *call, answered);
  spdlog::debug(
      "session {}: {} → {}: {} in {} µs", ex.session->id, ex.method, slot.cfg->name,
      !answered                                             ? "timeout"
      : call->ec                                            ? call->ec.message()
      : call->response && call->response->contains("error") ? "error"
                                                            : "ok",
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
  if (!answered) {
    backend->cancel(*call, make_error_code(Errc::upstream_timeout),
                    fmt::format("mcpgw: no response within {} ms", timeout.count()));
  }
  bool passed = false;
  if (original && !call->ec && mcp::is_input_required(*call->response)) {
    if (ex.session->protocol_version() == mcp::kModernVersion) {
      // Client and server speak the same revision: the questions pass through.
      *call->response = pass_input_required(ex, *original, std::move(*call->response));
      passed = mcp::is_input_required(*call->response);
    } else {
      *call->response = co_await fulfil_input(ex, *original, std::move(*call->response),
                                              *inflight, deadline, std::move(headers));
    }
  }
  untrack(ex, inflight);
  if (token) {
    progress_.erase(*token);
  }
  if (!inflight->missing_capability.empty()) {
    co_return missing_capability(ex, inflight->missing_capability);
  }
  if (call->ec) {
    co_return failed(ex, *call, *backend, timeout);
  }
  json::object response = std::move(*call->response);
  response["id"] = ex.id;
  if (original && !passed) {
    mcp::strip_result(response);  // the server's own revision marks; the gateway adds its own
  }
  if (!ex.session->single_server) {
    if (auto* result = response.if_contains("result")) {
      expose_uris(*result, ex.method, slot.cfg->name);
    }
  }
  co_return response;
}

json::object Relay::failed(Exchange& ex, const upstream::Call& call,
                           const upstream::Backend& backend, std::chrono::milliseconds timeout) {
  std::string detail = call.detail;
  if (call.ec == make_error_code(Errc::upstream_timeout)) {
    ex.outcome = Outcome::timeout;
    detail = fmt::format("Request to server '{}' timed out after {} ms", ex.slot->cfg->name,
                         timeout.count());
  }
  if (auto url = backend.consent_url(); !url.empty()) {
    return consent_required(ex.id, ex.slot->cfg->name, url, detail);
  }
  return error_reply(ex.id, call.ec, detail);
}

asio::awaitable<std::optional<json::object>> Relay::not_ready(Exchange& ex,
                                                              Clock::time_point deadline) {
  BackendSlot& slot = *ex.slot;
  auto backend = slot.backend;
  if (!backend) {
    co_return jsonrpc::make_error(
        ex.id, rpc_code::kInternalError,
        fmt::format("Server '{}' ({}) is not supported yet", slot.cfg->name,
                    config::to_string(slot.cfg->transport)));
  }
  if (backend->state() == BackendState::ready) {
    co_return std::nullopt;
  }
  if (backend->waits_for_user()) {
    backend->retry_now();  // the caller may have set the value it lacked, or connected, since
  }
  const auto until = std::min(deadline, Clock::now() + cfg_.gateway.timeouts.startup);
  if (!backend->down() && co_await backend->wait_ready(until)) {
    co_return std::nullopt;
  }
  if (auto url = backend->consent_url(); !url.empty()) {
    co_return consent_required(ex.id, slot.cfg->name, url, backend->last_error());
  }
  co_return jsonrpc::make_error(
      ex.id, rpc_code::kInternalError,
      fmt::format("Server '{}' is not available: {}", slot.cfg->name,
                  backend->last_error().empty() ? upstream::to_string(backend->state())
                                                : backend->last_error()));
}

std::optional<std::int64_t> Relay::gateway_progress_token(Exchange& ex, json::object& req) {
  // Progress tokens are per client; servers are shared. Give the server a token of ours.
  const json::value* t = jsonrpc::progress_token(req);
  if (t == nullptr) {
    return std::nullopt;
  }
  const std::int64_t token = next_progress_token_++;
  progress_[token] = ProgressRoute{ex.session, *t, ex.out};
  req["params"].as_object()["_meta"].as_object()["progressToken"] = token;
  return token;
}

void Relay::put_modern_envelope(const Exchange& ex, json::object& req) {
  // What this request's client can answer (the revision asks per request).
  json::object caps = Session::answerable(ex.client_capabilities());
  // An empty elicitation capability (2025) means forms.
  if (auto* e = caps.if_contains("elicitation"); e && e->is_object() && e->get_object().empty()) {
    e->get_object()["form"] = json::object();
  }
  mcp::put_envelope(req, gateway_client_info(), caps);
  ask_for_logs(ex, req);
}

asio::awaitable<std::vector<std::pair<std::string, std::string>>> Relay::param_headers(
    Exchange& ex, const json::object& req, bool modern) {
  const auto& cached = ex.slot->cache(ListKind::tools);
  if (!modern || ex.method != mcp::method::kToolsCall || (cached.items && !cached.header_params)) {
    co_return std::vector<std::pair<std::string, std::string>>{};
  }
  // The tool's x-mcp-header parameters, from its server's list (cached).
  auto tools = co_await fetch_list(*ex.slot, ListKind::tools, ex.session);
  const json::object* tool = upstream::find_tool(tools, ex.slot->cache(ListKind::tools), ex.name);
  const auto* p = req.if_contains("params");
  if (tool == nullptr || p == nullptr || !p->is_object()) {
    co_return std::vector<std::pair<std::string, std::string>>{};
  }
  co_return mcp::param_headers(*tool, p->get_object());
}

json::object Relay::missing_capability(const Exchange& ex, const std::string& capability) {
  json::object missing;
  missing[capability] = json::object();
  json::object data;
  data["requiredCapabilities"] = std::move(missing);
  return jsonrpc::make_error(
      ex.id, rpc_code::kMissingCapability,
      fmt::format("Missing required client capabilities: {} (server '{}' asked for {} during "
                  "the request; declare it in _meta's clientCapabilities)",
                  capability, ex.server, capability),
      std::move(data));
}

void Relay::ask_for_logs(const Exchange& ex, json::object& req) {
  // A server of the stateless revision logs only for a request that names a level: the
  // request's own (a stateless client's), else its session's (logging/setLevel; a session
  // that set none hears everything).
  int rank = ex.out ? ex.out->current().log_rank() : -1;
  if (rank < 0) {
    rank = std::max(ex.session->log_rank, 0);
  }
  if (const auto level = mcp::log_level_name(rank); !level.empty()) {
    mcp::meta_of(req)[mcp::meta::kLogLevel] = level;
  }
}

std::shared_ptr<InFlight> Relay::track(Exchange& ex) {
  auto inflight = std::make_shared<InFlight>();
  inflight->client_id = ex.id;
  inflight->session = ex.session;
  inflight->out = ex.out;
  inflight->slot = ex.slot;
  inflight->order = next_inflight_order_++;
  inflight->capabilities = &ex.client_capabilities();
  ex.session->inflight[jsonrpc::id_key(ex.id)] = inflight;
  ex.slot->inflight.push_back(inflight.get());
  ++inflight_count_;
  return inflight;
}

void Relay::untrack(Exchange& ex, const std::shared_ptr<InFlight>& inflight) {
  --inflight_count_;
  std::erase(ex.slot->inflight, inflight.get());
  auto& mine = ex.session->inflight;
  if (auto it = mine.find(jsonrpc::id_key(ex.id)); it != mine.end() && it->second == inflight) {
    mine.erase(it);
  }
}

asio::awaitable<void> Relay::set_level(Exchange& ex) {
  const SessionPtr& s = ex.session;
  json::object& params = params_of(ex.request);
  const std::string level(string_at(params, "level"));
  const int rank = mcp::log_level_rank(level);
  if (rank < 0) {
    ex.fail(rpc_code::kInvalidParams, fmt::format("Unknown logging level: {}", level));
    co_return;
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
    json::object p;
    p["level"] = mcp::log_level_name(min_rank);
    slot->backend->send_request(
        jsonrpc::make_request(0, mcp::method::kLoggingSetLevel, std::move(p)));
  }
  ex.reply = jsonrpc::make_result(ex.id, json::object());
}

bool Relay::subscribe_by_listen(Exchange& ex, const std::string& server_uri, bool on) {
  auto backend = ex.slot->backend;
  if (!backend || backend->info().protocol_version != mcp::kModernVersion) {
    return false;  // resources/subscribe goes to the server itself
  }
  const auto* res = backend->info().capabilities.if_contains("resources");
  const auto* can = res != nullptr && res->is_object() ? res->get_object().if_contains("subscribe")
                                                       : nullptr;
  if (can == nullptr || !can->is_bool() || !can->get_bool()) {
    ex.fail(rpc_code::kMethodNotFound,
            fmt::format("Server '{}' does not offer resource subscriptions", ex.server));
    return true;
  }
  // This revision has no resources/subscribe: the gateway's listen at the server names the
  // resources, and is opened again with the new set.
  std::set<std::string> uris;
  for (const auto& [uri, count] : ex.slot->subscriptions) {
    if (count > 0 && uri != server_uri) {
      uris.insert(uri);
    }
  }
  if (on) {
    uris.insert(server_uri);
  }
  if (!backend->listen_for_resources(std::move(uris))) {
    return false;
  }
  ex.reply = jsonrpc::make_result(ex.id, json::object());
  return true;
}

asio::awaitable<void> Relay::subscribe(Exchange& ex) {
  // A shared server is subscribed once, however many sessions want the resource: the access
  // stage routed the URI, and this counts the sessions that asked.
  Session& s = *ex.session;
  BackendSlot& slot = *ex.slot;
  const bool on = ex.method == mcp::method::kResourcesSubscribe;
  const std::string& uri = ex.target;  // as the client sees it
  const std::string server_uri = ex.name;
  const bool mine = s.subscriptions.count(uri) != 0;
  int& count = slot.subscriptions[server_uri];
  bool local = false;
  if (on && (mine || count > 0)) {
    if (!mine) {
      ++count;
      s.subscriptions.insert(uri);
    }
    local = true;
  } else if (!on && !mine) {
    if (count == 0) {
      slot.subscriptions.erase(server_uri);
    }
    local = true;
  } else if (!on && count > 1) {
    --count;
    s.subscriptions.erase(uri);
    local = true;
  }
  if (local) {
    ex.reply = jsonrpc::make_result(ex.id, json::object());
    co_return;
  }
  if (!subscribe_by_listen(ex, server_uri, on)) {
    ex.reply = co_await forward(ex);
  }
  int& c = slot.subscriptions[server_uri];
  if (ex.reply.contains("result")) {
    if (on) {
      ++c;
      s.subscriptions.insert(uri);
    } else {
      s.subscriptions.erase(uri);
      --c;
    }
  }
  if (c <= 0) {
    slot.subscriptions.erase(server_uri);
  }
}

}  // namespace mcpgw::relay
