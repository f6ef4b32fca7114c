#include "client/bridge.hpp"

#include "common/error.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::client {

namespace {

/// Failed connection attempts in a row after which initialize gives up (≈ 2 s of retries):
/// a URL where nothing listens is reported at once, not after the whole startup timeout.
constexpr unsigned kGiveUpAfterFailures = 3;
/// After stdin ends, how long requests still in flight may take to be answered.
constexpr auto kDrain = std::chrono::seconds(10);
/// How long a backend may take to notice that its server is gone.
constexpr auto kNoticeGone = std::chrono::seconds(1);
constexpr int kInvalidRequest = -32600;
constexpr int kParseError = -32700;
constexpr int kInternalError = -32603;

config::Config make_config(const BridgeOptions& o) {
  config::Config cfg;
  config::ServerConfig s;
  s.name = upstream::display_url(o.url);  // how logs and errors name it
  s.url = o.url;
  for (const auto& [name, value] : o.headers) {
    s.headers[name] = value;
  }
  s.options.tls_ca_file = o.ca_file;
  s.options.tls_insecure = o.insecure;
  cfg.servers.push_back(std::move(s));
  cfg.gateway.timeouts.startup = o.startup;
  cfg.gateway.timeouts.call = o.call;
  // A gateway that restarts is back within seconds: look again often.
  cfg.gateway.timeouts.restart_max_backoff = std::chrono::seconds(2);
  return cfg;
}

/// The URL refused a Streamable HTTP POST in a way a legacy HTTP+SSE server does (no such
/// route, method not allowed, a request it does not understand): worth trying legacy SSE.
bool refused_like_legacy_server(const std::string& error) {
  for (const char* status : {"answered HTTP 400", "answered HTTP 404", "answered HTTP 405"}) {
    if (error.find(status) != std::string::npos) {
      return true;
    }
  }
  return false;
}

const char* transport_name(config::Transport t) {
  return t == config::Transport::http ? "Streamable HTTP" : "legacy HTTP+SSE";
}

}  // namespace

Bridge::Bridge(asio::any_io_executor ex, BridgeOptions options, std::shared_ptr<StdioChannel> io)
    : ex_(ex), opts_(std::move(options)), io_(std::move(io)), cfg_(make_config(opts_)),
      pool_(ex, cfg_), state_changed_(ex), idle_(ex) {
  idle_.set();
}

Bridge::~Bridge() = default;

asio::awaitable<int> Bridge::run() {
  co_await io_->read_lines([this](std::string_view line) { on_line(line); });
  stopping_ = true;
  // The client closed its end: answers to what it already asked still reach it, for a while.
  co_await idle_.wait_until(Clock::now() + kDrain);
  if (backend_) {
    for (auto& [key, f] : in_flight_) {
      backend_->cancel(*f.call, make_error_code(Errc::shutting_down), "the client went away");
    }
    co_await backend_->stop();  // ends the upstream session (DELETE)
  }
  co_await io_->flush(Clock::now() + std::chrono::seconds(2));
  if (!io_->error().empty()) {
    spdlog::error("{}", io_->error());
    co_return 1;
  }
  co_return 0;
}

void Bridge::stop() { io_->close_input(); }

void Bridge::on_line(std::string_view line) {
  auto parsed = jsonrpc::parse(line);
  if (!parsed) {
    reply_error(nullptr, kParseError, "Parse error: the line is not valid JSON");
    return;
  }
  if (parsed->is_array()) {  // a 2025-03-26 batch: each item on its own
    for (auto& item : parsed->get_array()) {
      if (item.is_object()) {
        on_message(std::move(item.get_object()));
      } else {
        reply_error(nullptr, kInvalidRequest, "Invalid Request: a batch item is not an object");
      }
    }
    return;
  }
  if (!parsed->is_object()) {
    reply_error(nullptr, kInvalidRequest, "Invalid Request: not a JSON-RPC message");
    return;
  }
  on_message(std::move(parsed->get_object()));
}

void Bridge::on_message(json::object&& msg) {
  std::string_view why;
  switch (jsonrpc::classify(msg, &why)) {
    case jsonrpc::Kind::invalid: {
      const auto* id = msg.if_contains("id");
      reply_error(id != nullptr && jsonrpc::valid_id(*id) ? *id : json::value(nullptr),
                  kInvalidRequest, fmt::format("Invalid Request: {}", why));
      return;
    }
    case jsonrpc::Kind::response:  // the client answers the server (elicitation, sampling, roots)
      if (backend_) {
        backend_->send(std::move(msg));
      }
      return;
    case jsonrpc::Kind::notification:
      on_notification(std::move(msg));
      return;
    case jsonrpc::Kind::request:
      break;
  }
  if (jsonrpc::method(msg) == mcp::method::kInitialize) {
    if (backend_ || initializing_) {
      reply_error(msg.at("id"), kInvalidRequest, "Invalid Request: already initialized");
      return;
    }
    initializing_ = true;
    busy();
    asio::co_spawn(ex_, initialize(std::move(msg)), [this](std::exception_ptr) { done(); });
    return;
  }
  if (!backend_) {
    reply_error(msg.at("id"), kInvalidRequest,
                "Invalid Request: send initialize first (the connection is not initialized)");
    return;
  }
  busy();
  asio::co_spawn(ex_, forward(std::move(msg)), [this](std::exception_ptr) { done(); });
}

void Bridge::busy() {
  ++active_;
  idle_.reset();
}

void Bridge::done() {
  if (--active_ == 0) {
    idle_.set();
  }
}

void Bridge::on_notification(json::object&& msg) {
  const auto method = jsonrpc::method(msg);
  if (method == mcp::method::kInitialized || !backend_) {
    return;  // the backend sent its own when its handshake ended
  }
  if (method == mcp::method::kCancelled) {
    const auto* params = msg.if_contains("params");
    const auto* rid = params != nullptr && params->is_object()
                          ? params->get_object().if_contains("requestId")
                          : nullptr;
    if (rid == nullptr) {
      return;
    }
    auto it = in_flight_.find(jsonrpc::id_key(*rid));
    if (it != in_flight_.end()) {
      it->second.cancelled = true;
      backend_->cancel(*it->second.call, make_error_code(Errc::cancelled),
                       "cancelled by the client");
    }
    return;
  }
  backend_->send(std::move(msg));
}

asio::awaitable<void> Bridge::initialize(json::object request) {
  const json::value id = request.at("id");
  upstream::ClientIdentity identity;
  if (const auto* p = request.if_contains("params"); p != nullptr && p->is_object()) {
    const auto& params = p->get_object();
    if (const auto* v = params.if_contains("protocolVersion"); v && v->is_string()) {
      identity.protocol_version = std::string(v->get_string());
    }
    if (const auto* v = params.if_contains("capabilities"); v && v->is_object()) {
      identity.capabilities = v->get_object();
    }
    if (const auto* v = params.if_contains("clientInfo"); v && v->is_object()) {
      identity.client_info = v->get_object();
    }
  }
  const auto deadline = Clock::now() + opts_.startup;
  bool ready = false;
  if (opts_.transport != "sse") {
    ready = co_await connect(config::Transport::http, identity, deadline);
  }
  if (!ready && (opts_.transport == "sse" ||
                 (opts_.transport == "auto" && refused_like_legacy_server(backend_->last_error())))) {
    if (backend_) {
      spdlog::info("{} refused Streamable HTTP ({}); trying legacy HTTP+SSE",
                   upstream::display_url(opts_.url), backend_->last_error());
      co_await backend_->stop();
    }
    ready = co_await connect(config::Transport::sse, std::move(identity), deadline);
  }
  initializing_ = false;
  if (!ready) {
    const auto why = backend_->last_error().empty() ? std::string("no answer in time")
                                                    : backend_->last_error();
    reply_error(id, kInternalError,
                fmt::format("mcpgw stdio: cannot reach {}: {}", upstream::display_url(opts_.url),
                            why));
    co_await backend_->stop();
    backend_.reset();
    co_return;
  }
  write(jsonrpc::make_result(id, initialize_result()));
}

asio::awaitable<bool> Bridge::connect(config::Transport transport,
                                      upstream::ClientIdentity identity,
                                      Clock::time_point deadline) {
  cfg_.servers.front().transport = transport;
  backend_ = pool_.make(cfg_.servers.front(), std::move(identity), *this);
  auto backend = backend_;
  backend->start();
  while (backend->state() != upstream::BackendState::ready && Clock::now() < deadline &&
         backend->consecutive_failures() < kGiveUpAfterFailures) {
    if (refused_like_legacy_server(backend->last_error()) && opts_.transport == "auto" &&
        transport == config::Transport::http) {
      break;  // no need to ask again: try legacy SSE
    }
    state_changed_.reset();
    co_await state_changed_.wait_until(deadline);
  }
  const bool ready = backend->state() == upstream::BackendState::ready;
  if (ready) {
    spdlog::info("connected to {} over {} (protocol {})", upstream::display_url(opts_.url),
                 transport_name(transport), backend->info().protocol_version);
  }
  co_return ready;
}

json::object Bridge::initialize_result() const {
  const auto& info = backend_->info();
  json::object result;
  result["protocolVersion"] = info.protocol_version;
  result["capabilities"] = info.capabilities;
  result["serverInfo"] = info.server_info;
  if (!info.instructions.empty()) {
    result["instructions"] = info.instructions;
  }
  return result;
}

asio::awaitable<bool> Bridge::wait_ready(Clock::time_point deadline) {
  auto backend = backend_;
  while (backend->state() != upstream::BackendState::ready) {
    if (Clock::now() >= deadline || backend->state() == upstream::BackendState::stopped) {
      co_return false;
    }
    state_changed_.reset();
    co_await state_changed_.wait_until(deadline);
  }
  co_return true;
}

asio::awaitable<void> Bridge::forward(json::object request) {
  const json::value id = request.at("id");
  const auto key = jsonrpc::id_key(id);
  if (in_flight_.count(key) != 0) {
    reply_error(id, kInvalidRequest, "Invalid Request: a request with this id is in flight");
    co_return;
  }
  const auto deadline = Clock::now() + opts_.call;
  auto call = co_await send(request, key, deadline);
  while (call && call->unsent && Clock::now() < deadline) {
    // The server went away before the request reached it (a gateway restarting): once it is
    // back, send it again; it cannot run twice. The backend notices that the server is gone a
    // moment after the request failed: wait for that rather than send into the same failure.
    if (backend_->state() == upstream::BackendState::ready) {
      state_changed_.reset();
      co_await state_changed_.wait_until(std::min(deadline, Clock::now() + kNoticeGone));
    }
    call = co_await send(request, key, deadline);
  }
  if (!call) {
    co_return;  // already answered (not reachable) or cancelled by the client
  }
  if (call->response) {
    auto& response = *call->response;
    response["id"] = id;
    write(response);
    co_return;
  }
  reply_error(id, to_rpc_code(call->ec), call->detail.empty() ? call->ec.message() : call->detail);
}

asio::awaitable<upstream::CallPtr> Bridge::send(json::object request, const std::string& key,
                                                Clock::time_point deadline) {
  const json::value id = request.at("id");
  auto backend = backend_;
  if (!co_await wait_ready(std::min(deadline, Clock::now() + opts_.startup))) {
    reply_error(id, kInternalError,
                fmt::format("mcpgw stdio: {} is not reachable: {}",
                            upstream::display_url(opts_.url), backend->last_error()));
    co_return nullptr;
  }
  auto call = backend->send_request(std::move(request));
  in_flight_[key] = InFlight{call};
  const bool answered = co_await call->done.wait_until(deadline);
  auto entry = in_flight_.extract(key);
  if (!answered) {
    backend->cancel(*call, make_error_code(Errc::upstream_timeout),
                    fmt::format("no answer within {} ms", opts_.call.count()));
  }
  if (!entry.empty() && entry.mapped().cancelled) {
    co_return nullptr;  // the client cancelled it: it expects no answer
  }
  co_return call;
}

void Bridge::on_backend_message(upstream::Backend&, json::object&& msg) { write(msg); }

void Bridge::on_backend_state(upstream::Backend& backend, upstream::BackendState state) {
  if (&backend != backend_.get()) {
    return;
  }
  (void)state;  // the backend logs its own changes
  state_changed_.notify();
}

void Bridge::reply_error(const json::value& id, int code, std::string_view message) {
  write(jsonrpc::make_error(id, code, message));
}

void Bridge::write(const json::object& msg) { io_->write_line(jsonrpc::serialize(msg)); }

}  // namespace mcpgw::client
