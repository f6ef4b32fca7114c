#include "server/http_server.hpp"
#include "common/clock.hpp"
#include "common/scope_exit.hpp"
#include "net/http_read.hpp"
#include "server/admission.hpp"
#include "upstream/process_budget.hpp"

#include "common/error.hpp"
#include "common/memory.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"
#include "upstream/jwks_fetcher.hpp"
#include "gate/chain.hpp"
#include "gate/pins.hpp"

#include <openssl/crypto.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <set>

namespace mcpgw::server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using relay::EventStream;
using relay::SessionPtr;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::string_view kSessionHeader = "Mcp-Session-Id";
constexpr std::string_view kVersionHeader = "MCP-Protocol-Version";
constexpr std::string_view kAllowStreamable = "GET, POST, DELETE, OPTIONS";

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr char ascii_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

/// Case-insensitive ASCII search; `needle` must be lowercase. Runs on every request's headers.
bool contains_ci(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) {
    return true;
  }
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (ascii_lower(haystack[i]) != needle[0]) {
      continue;
    }
    std::size_t j = 1;
    while (j < needle.size() && ascii_lower(haystack[i + j]) == needle[j]) {
      ++j;
    }
    if (j == needle.size()) {
      return true;
    }
  }
  return false;
}

/// What the client's Accept header allows. No Accept header accepts everything.
struct Accepts {
  bool json = true;
  bool sse = true;
};

Accepts parse_accept(std::string_view accept) {
  if (accept.empty() || contains_ci(accept, "*/*")) {
    return {};
  }
  Accepts a;
  a.json = contains_ci(accept, "application/json") || contains_ci(accept, "application/*");
  a.sse = contains_ci(accept, "text/event-stream") || contains_ci(accept, "text/*");
  return a;
}

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

/// SSE framing: one event per message, `data` is single-line JSON.
void append_event(std::string& out, std::string_view id, std::string_view data) {
  if (!id.empty()) {
    out.append("id: ").append(id).append("\n");
  }
  out.append("event: message\ndata: ").append(data).append("\n\n");
}

}  // namespace

// ---------------------------------------------------------------------------------------------

class HttpServer::Impl {
 public:
  Impl(asio::io_context& ioc, relay::Relay& relay, const config::Config& cfg,
       access::Authenticator& auth)
      : ioc_(ioc), relay_(relay), auth_(auth), gw_(cfg.gateway), acceptor_(ioc) {
    allowed_hosts_ = gw_.allowed_hosts;
    if (allowed_hosts_.empty() && config::is_loopback_host(gw_.listen_host)) {
      allowed_hosts_ = {"localhost", "127.0.0.1", "[::1]"};
    }
    for (auto& h : allowed_hosts_) {
      h = lower(h);
    }
    if (auth_.jwt() != nullptr && auth_.jwt()->config().jwks_is_url) {
      jwks_ = std::make_shared<upstream::JwksFetcher>(ioc_.get_executor(), *auth_.jwt(),
                                                      gw_.timeouts.connect);
    }
  }

  bool listen(const std::string& host, std::uint16_t port, std::string& error) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec) {
      error = fmt::format("invalid listen address '{}': {}", host, ec.message());
      return false;
    }
    tcp::endpoint ep(address, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) {
      acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
      acceptor_.bind(ep, ec);
    }
    if (!ec) {
      acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      error = fmt::format("cannot listen on {}:{}: {}", host, port, ec.message());
      return false;
    }
    return true;
  }

  std::uint16_t port() const noexcept {
    boost::system::error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }

  void start() {
    if (jwks_) {
      jwks_->start();
    }
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    asio::co_spawn(ioc_, release_memory(), asio::detached);
    asio::co_spawn(ioc_, watch_memory(), asio::detached);
  }

  asio::awaitable<void> shutdown(std::chrono::milliseconds drain) {
    stopping_ = true;
    if (jwks_) {
      jwks_->stop();
    }
    boost::system::error_code ec;
    acceptor_.close(ec);
    // Let in-flight requests finish (bounded), then end every session and connection.
    asio::steady_timer timer(ioc_);
    const auto deadline = Clock::now() + drain;
    while (relay_.in_flight() > 0 && Clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (relay_.in_flight() > 0) {
      spdlog::warn("drain: {} request(s) still in flight after {} ms", relay_.in_flight(),
                   drain.count());
    }
    co_await relay_.stop();
    // Give stream writers a moment to send what the relay finished, then close the rest.
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    for (auto* s : connections_) {
      s->socket().shutdown(tcp::socket::shutdown_both, ec);
      s->close();
    }
  }

 private:
  struct Conn {
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    access::PrincipalPtr principal;  ///< who sent the request being handled (auth on)
    std::string scope;               ///< the taint scope the request names (/scope/{id}, x-mcp-scope)
    bool probing = true;  ///< watching for the client going away while a stream is open
    asio::ip::address peer;          ///< the client's address
  };

  asio::awaitable<void> accept_loop() {
    asio::steady_timer backoff(ioc_);
    auto pause = std::chrono::milliseconds(0);
    Clock::time_point last_warning{};
    std::size_t failures = 0;
    while (!stopping_) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (stopping_ || ec == asio::error::operation_aborted) {
          break;
        }
        // Out of file descriptors (or memory): the connection waits in the backlog. Retrying at
        // once would spin; back off, and log once a second at most.
        ++failures;
        if (Clock::now() - last_warning > std::chrono::seconds(1)) {
          spdlog::warn("accept: {} ({} time(s)); backing off", ec.message(), failures);
          last_warning = Clock::now();
          failures = 0;
        }
        pause = std::clamp(pause * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
        backoff.expires_after(pause);
        co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      pause = std::chrono::milliseconds(0);
      const auto peer = socket.remote_endpoint(ec).address();
      if (ec) {
        continue;  // already gone
      }
      if (const auto verdict = admission_.admit(peer); verdict != Admission::Verdict::ok) {
        spdlog::warn("refusing a connection from {}: {}", peer.to_string(),
                     verdict == Admission::Verdict::full ? "limits.maxConnections reached"
                                                         : "limits.maxConnectionsPerClient reached");
        Admission::refuse(socket, verdict);
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      trim_mark_ = std::max(trim_mark_, admission_.open());
      asio::co_spawn(ioc_, run_connection(std::move(socket), peer), asio::detached);
    }
  }

  asio::awaitable<void> run_connection(tcp::socket socket, asio::ip::address peer) {
    Conn c{beast::tcp_stream(std::move(socket)), beast::flat_buffer(read_buffer_max()), nullptr,
           {}, true, peer};
    connections_.insert(&c.stream);
    // Runs however the coroutine ends, also when its frame is destroyed without resuming (then
    // the server may be gone already).
    auto cleanup = scope_exit([this, &c, alive = std::weak_ptr<void>(alive_)] {
      if (!alive.expired()) {
        connections_.erase(&c.stream);
        admission_.release(c.peer);
      }
      boost::system::error_code ec;
      c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      c.stream.close();
    });
    try {
      co_await serve(c);
    } catch (const std::exception& e) {
      spdlog::error("connection error: {}", e.what());
    }
  }

  /// The most a connection buffers of what it has not parsed yet: a whole header section, one
  /// chunk-size line or the trailers must fit.
  std::size_t read_buffer_max() const {
    return gw_.limits.max_header_bytes + net::kReadChunk;
  }

  /// After a crowd of connections (and their sessions) has gone, hands the freed heap back to
  /// the OS, so memory returns to its baseline instead of staying at the peak. Checks every
  /// 2 s; trims only when the connections have at least halved from a peak of 256 or more:
  /// rare, and O(heap) when it happens.
  asio::awaitable<void> release_memory() {
    asio::steady_timer timer(ioc_);
    while (!stopping_) {
      timer.expires_after(std::chrono::seconds(2));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (trim_mark_ >= 256 && admission_.open() <= trim_mark_ / 2) {
        memory::release_free_memory();
        trim_mark_ = admission_.open();
      } else {
        memory::decay_free_memory();
      }
    }
  }

  /// Checks the resident size every second against the memory budget. Over it, new requests
  /// are shed with 503 until it is back under 90% of the budget: better a client that retries
  /// than a gateway the OOM killer ends with every session.
  asio::awaitable<void> watch_memory() {
    asio::steady_timer timer(ioc_);
    while (!stopping_) {
      timer.expires_after(std::chrono::seconds(1));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      const std::size_t rss = memory::resident_bytes();
      if (!shedding_ && rss > memory_budget_) {
        shedding_ = true;
        spdlog::warn("memory: {} MiB resident is over the budget of {} MiB "
                     "(limits.memoryBudgetBytes); refusing new requests until it falls",
                     rss >> 20, memory_budget_ >> 20);
        memory::release_free_memory();
      } else if (shedding_ && rss < memory_budget_ / 10 * 9) {
        shedding_ = false;
        spdlog::info("memory: {} MiB resident, under the budget again; accepting requests",
                     rss >> 20);
      }
    }
  }

  static std::size_t budget_of(const config::Limits& limits) {
    if (limits.memory_budget_bytes != 0) {
      return limits.memory_budget_bytes;
    }
    const std::size_t available = memory::available_bytes();
    return available != 0 ? available / 10 * 8 : SIZE_MAX;
  }

  /// /healthz: the relay's view plus the limits and how close the gateway is to them.
  json::object health() const {
    json::object h = relay_.health();
    const auto& l = gw_.limits;
    const auto& t = gw_.timeouts;
    json::object limits{
        {"maxConnections", l.max_connections},
        {"maxConnectionsPerClient", l.max_connections_per_client},
        {"maxSessions", l.max_sessions},
        {"maxSessionsPerClient", l.max_sessions_per_client},
        {"maxProcesses", l.max_processes},
        {"maxBackendQueueBytes", l.max_backend_queue_bytes},
        {"maxBodyBytes", l.max_body_bytes},
        {"maxHeaderBytes", l.max_header_bytes},
        {"maxMessageBytes", l.max_message_bytes},
        {"maxJsonDepth", l.max_json_depth},
        {"replayEvents", l.replay_events},
        {"memoryBudgetBytes", memory_budget_},
        {"authFailuresPerMin", l.auth_failures_per_min},
        {"connectionIdleMs", t.connection_idle.count()},
        {"headerMs", t.header.count()},
        {"bodyMs", t.body.count()},
        {"writeMs", t.write.count()},
    };
    h["limits"] = std::move(limits);
    h["load"] = json::object{
        {"connections", admission_.open()},
        {"refusedConnections", admission_.refused()},
        {"processes", upstream::ProcessBudget::instance().live()},
        {"residentBytes", memory::resident_bytes()},
        {"heapBytes", memory::allocated_bytes()},
        {"shedding", shedding_},
    };
    if (shedding_) {
      h["status"] = "overloaded";
    }
    return h;
  }

  asio::awaitable<void> serve(Conn& c) {
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(
          std::min<std::size_t>(gw_.limits.max_header_bytes, UINT32_MAX)));
      parser.body_limit(gw_.limits.max_body_bytes);
      const auto ec = co_await read_request(c, parser);
      if (ec) {
        if (auto res = read_error_response(ec, parser.got_some())) {
          co_await write(c, *res);
          co_await linger(c);
        }
        co_return;
      }
      Request req = parser.release();
      const bool keep = co_await handle(c, req);
      if (!keep || stopping_) {
        co_return;
      }
    }
  }

  /// Reads one request: the connection may idle until its first byte (connectionIdleMs), then
  /// the headers have headerMs and the body bodyMs. The body counts as sent: chunk framing,
  /// extensions and trailers are part of limits.maxBodyBytes.
  asio::awaitable<boost::system::error_code> read_request(
      Conn& c, http::request_parser<http::string_body>& parser) {
    if (c.buffer.size() == 0) {
      c.stream.expires_after(gw_.timeouts.connection_idle);
      auto [ec, n] = co_await c.stream.async_read_some(c.buffer.prepare(net::read_size(c.buffer)),
                                                       asio::as_tuple(asio::use_awaitable));
      c.buffer.commit(n);
      if (ec) {
        co_return ec == asio::error::eof ? boost::system::error_code(http::error::end_of_stream)
                                         : ec;
      }
    }
    c.stream.expires_after(gw_.timeouts.header);
    if (auto ec = co_await net::read_header(c.stream, c.buffer, parser)) {
      co_return ec;
    }
    c.stream.expires_after(gw_.timeouts.body);
    auto ec = co_await net::read_body(c.stream, c.buffer, parser, gw_.limits.max_body_bytes);
    c.stream.expires_never();
    co_return ec;
  }

  /// After refusing a request the client is still sending (a body or a line too large): stop
  /// sending, and read and drop what arrives for a moment, so the refusal is not lost to a
  /// reset before the client reads it. Bounded by time, never by memory.
  asio::awaitable<void> linger(Conn& c) {
    constexpr auto kLinger = std::chrono::seconds(2);
    boost::system::error_code ec;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c.stream.expires_after(kLinger);
    std::array<char, 16 * 1024> sink{};
    for (;;) {
      auto [rec, n] = co_await c.stream.async_read_some(asio::buffer(sink),
                                                        asio::as_tuple(asio::use_awaitable));
      if (rec) {
        break;
      }
    }
  }

  /// The reply to a request that could not be read, if the client should get one.
  std::optional<Response> read_error_response(const boost::system::error_code& ec,
                                              bool got_some) {
    Request empty;
    std::optional<Response> res;
    if (ec == http::error::body_limit) {
      res = error_response(empty, 413, nullptr, rpc_code::kInvalidRequest,
                           fmt::format("Request body exceeds limits.maxBodyBytes ({} bytes, chunk "
                                       "framing and trailers included)",
                                       gw_.limits.max_body_bytes));
    } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      res = error_response(empty, 431, nullptr, rpc_code::kInvalidRequest,
                           "Request header fields too large (limits.maxHeaderBytes; also a "
                           "chunk-size line or the trailers, and 64 KiB per field)");
    } else if (ec == beast::error::timeout) {
      // The stream closed the socket at its deadline (headerMs, bodyMs): nothing can be sent.
    } else if (ec != http::error::end_of_stream && ec != asio::error::connection_reset &&
               ec != asio::error::operation_aborted && ec != asio::error::eof && got_some) {
      res = error_response(empty, 400, nullptr, rpc_code::kInvalidRequest,
                           fmt::format("Malformed HTTP request: {}", ec.message()));
    }
    if (res) {
      res->keep_alive(false);
    }
    return res;
  }

  // -------------------------------------------------------------------------------------------
  // Responses

  void common_headers(const Request& req, Response& res) {
    res.set(http::field::server, "mcpgw");
    // CORS only for origins that may use the gateway: a refused page cannot read the refusal.
    if (auto origin = req[http::field::origin]; !origin.empty() && origin_allowed(origin)) {
      res.set(http::field::access_control_allow_origin, origin);
      res.set(http::field::access_control_expose_headers,
              "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate");
      res.set(http::field::vary, "Origin");
    }
  }

  Response json_response(const Request& req, unsigned status, std::string body) {
    Response res{static_cast<http::status>(status), req.version() ? req.version() : 11};
    common_headers(req, res);
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.version() == 0 ? false : req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  /// {"error": message}: the error body of the REST surface and of the admin API.
  Response error_json(const Request& req, unsigned status, std::string_view message) {
    json::object o;
    o["error"] = message;
    return json_response(req, status, json::serialize(o));
  }

  Response error_response(const Request& req, unsigned status, json::value id, int code,
                          std::string_view message) {
    return json_response(req, status, jsonrpc::serialize(jsonrpc::make_error(std::move(id), code, message)));
  }

  Response error_response(const Request& req, const boost::system::error_code& ec,
                          json::value id = nullptr, std::string_view message = {}) {
    return error_response(req, to_http_status(ec), std::move(id), to_rpc_code(ec),
                          message.empty() ? ec.message() : message);
  }

  /// The hot path's reply: a 200/202 JSON body written as one preformatted buffer (no
  /// header-field containers, one gathered send).
  asio::awaitable<bool> write_json(Conn& c, const Request& req, unsigned status,
                                   std::string_view body, std::string_view session_id) {
    const bool keep = req.version() != 10 && req.keep_alive();
    std::string head;
    head.reserve(256);
    head.append(status == 202 ? "HTTP/1.1 202 Accepted\r\n" : "HTTP/1.1 200 OK\r\n");
    head.append("Server: mcpgw\r\nContent-Type: application/json\r\nContent-Length: ");
    head.append(std::to_string(body.size()));
    head.append("\r\n");
    if (!session_id.empty()) {
      head.append("Mcp-Session-Id: ").append(session_id).append("\r\n");
    }
    if (auto origin = req[http::field::origin]; !origin.empty()) {
      head.append("Access-Control-Allow-Origin: ").append(origin).append("\r\n");
      head.append("Access-Control-Expose-Headers: Mcp-Session-Id, MCP-Protocol-Version, "
                  "WWW-Authenticate\r\nVary: Origin\r\n");
    }
    if (!keep) {
      head.append("Connection: close\r\n");
    }
    head.append("\r\n");
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(body)};
    co_return co_await send(c, buffers) && keep;
  }

  asio::awaitable<bool> write(Conn& c, Response& res) {
    c.stream.expires_after(gw_.timeouts.write);
    auto [ec, n] = co_await http::async_write(c.stream, res, asio::as_tuple(asio::use_awaitable));
    c.stream.expires_never();
    co_return !ec && res.keep_alive();
  }

  /// Writes `buffers` in slices of 64 KiB, each with timeouts.writeMs: a client that stops
  /// reading is disconnected, and what was queued for it is freed.
  template <class Buffers>
  asio::awaitable<bool> send(Conn& c, const Buffers& buffers) {
    constexpr std::size_t kSlice = 64 * 1024;
    beast::buffers_suffix<Buffers> rest(buffers);
    while (beast::buffer_bytes(rest) > 0) {
      c.stream.expires_after(gw_.timeouts.write);
      auto [ec, n] = co_await asio::async_write(c.stream, beast::buffers_prefix(kSlice, rest),
                                                asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == beast::error::timeout) {
          spdlog::debug("closing a connection from {}: nothing read for {} ms",
                        c.peer.to_string(), gw_.timeouts.write.count());
        }
        co_return false;
      }
      rest.consume(n);
    }
    c.stream.expires_never();
    co_return true;
  }

  // -------------------------------------------------------------------------------------------
  // Routing

  asio::awaitable<bool> handle(Conn& c, Request& req) {
    // Two Hosts (or Origins) could be read differently by a proxy in front and by us.
    if (req.count(http::field::host) > 1 || req.count(http::field::origin) > 1) {
      auto res = error_response(req, 400, nullptr, rpc_code::kInvalidRequest,
                                "Bad Request: more than one Host or Origin header");
      res.keep_alive(false);
      co_return co_await write(c, res);
    }
    // DNS rebinding protection: the Host must be ours and a browser Origin must be allowed.
    if (!host_allowed(req[http::field::host])) {
      auto res = error_response(req, 403, nullptr, rpc_code::kServerError,
                                fmt::format("Forbidden: Host '{}' is not allowed",
                                            std::string_view(req[http::field::host])));
      co_return co_await write(c, res);
    }
    if (auto origin = req[http::field::origin]; !origin.empty() && !origin_allowed(origin)) {
      auto res = error_response(req, 403, nullptr, rpc_code::kServerError,
                                fmt::format("Forbidden: Origin '{}' is not allowed",
                                            std::string_view(origin)));
      co_return co_await write(c, res);
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
      Response res{http::status::no_content, req.version()};
      common_headers(req, res);
      res.set(http::field::access_control_allow_methods, kAllowStreamable);
      res.set(http::field::access_control_allow_headers,
              "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, "
              "Last-Event-ID, x-mcp-servers, x-mcp-scope");
      res.set(http::field::access_control_max_age, "600");
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      co_return co_await write(c, res);
    }

    if (shedding_ && path != "/healthz" && path != "/health" &&
        req.method() != http::verb::delete_) {
      auto res = error_response(req, make_error_code(Errc::overloaded), nullptr,
                                "Service Unavailable: the gateway is over its memory budget "
                                "(limits.memoryBudgetBytes); retry shortly");
      res.set(http::field::retry_after, "5");
      co_return co_await write(c, res);
    }

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
      auto res = error_response(req, 400, nullptr, rpc_code::kInvalidRequest,
                                "Bad request: a scope id is 1 to 128 of A-Z a-z 0-9 . _ : -");
      co_return co_await write(c, res);
    }
    const bool rest_path = path == "/v1/mcp/tools" || path == "/v1/mcp/server" ||
                           path == "/mcp-rest/tools/list" || path == "/mcp-rest/tools/call";
    const bool mcp_path = path == "/mcp" || path.rfind("/mcp/", 0) == 0 || rest_path ||
                          !litellm_server_path(path).empty() || path == "/sse" ||
                          path.rfind("/sse/", 0) == 0 || path == "/message" || path == "/messages";
    c.principal.reset();
    if (path == "/admin/approvals" || path.rfind("/admin/approvals/", 0) == 0 ||
        path == "/admin/tools" || path == "/admin/tools/approve") {
      co_return co_await admin(c, req, path);
    }
    if (auth_.jwt() != nullptr &&
        (path == kResourceMetadata || path.rfind(std::string(kResourceMetadata) + "/", 0) == 0)) {
      co_return co_await resource_metadata(c, req, path.substr(kResourceMetadata.size()));
    }
    if (mcp_path && auth_.enabled()) {
      // Nothing reaches a server, and no session is found or made, before this passes.
      const std::string client = c.peer.to_string();
      const access::Credentials creds{req[http::field::authorization], req["x-api-key"],
                                      req["x-litellm-api-key"], client};
      auto who = auth_.authenticate(creds);
      if (who.refresh_keys && jwks_) {
        // A key rotation: the token names a key the cached set does not have yet.
        const bool changed = co_await jwks_->refresh_now();
        if (changed) {
          who = auth_.authenticate(creds);
        }
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
        co_return co_await write(c, res);
      }
      if (who.outcome == access::AuthOutcome::rate_limited) {
        auto res = error_response(req, 429, nullptr, rpc_code::kServerError, who.reason);
        res.set(http::field::retry_after, std::to_string(who.retry_after_s));
        co_return co_await write(c, res);
      }
      c.principal = std::move(who.principal);
    }

    if (rest_path) {
      std::string server_id;
      for (auto param : target->params()) {
        if (param.key == "server_id") {
          server_id = param.value;
        }
      }
      co_return co_await rest(c, req, path, server_id);
    }
    if (const auto alt = litellm_server_path(path); !alt.empty()) {
      co_return co_await streamable(c, req, alt, path);  // LiteLLM's /{server}/mcp
    }
    if (path == "/mcp" || path.rfind("/mcp/", 0) == 0) {
      std::string server = path.size() > 4 ? path.substr(5) : std::string();
      if (server.find('/') != std::string::npos) {
        co_return co_await not_found(c, req);
      }
      co_return co_await streamable(c, req, server, path);
    }
    if (path == "/sse" || path.rfind("/sse/", 0) == 0) {
      std::string server = path.size() > 4 ? path.substr(5) : std::string();
      if (server.find('/') != std::string::npos) {
        co_return co_await not_found(c, req);
      }
      co_return co_await legacy_stream(c, req, server, path);
    }
    if (path == "/message" || path == "/messages") {
      std::string sid;
      for (auto param : target->params()) {
        if (param.key == "sessionId" || param.key == "session_id") {
          sid = param.value;
        }
      }
      co_return co_await legacy_post(c, req, sid);
    }
    if (path == "/healthz" || path == "/health") {
      auto res = json_response(req, 200, json::serialize(health()));
      co_return co_await write(c, res);
    }
    co_return co_await not_found(c, req);
  }

  /// The security gate's admin API, for an administrator with the admin token, never for
  /// agents: GET /admin/approvals (held calls), POST /admin/approvals/{id} {"decision":
  /// "approve"|"deny"}, GET /admin/tools (pins and quarantine), POST /admin/tools/approve
  /// {"server", "tool"}.
  asio::awaitable<bool> admin(Conn& c, const Request& req, const std::string& path) {
    gate::Gate* g = relay_.gate();
    if (g == nullptr) {
      auto res = error_json(req, 404, "Not found: the security gate is off (gateway.security)");
      co_return co_await write(c, res);
    }
    if (g->admin_token().empty()) {
      auto res = error_json(req, 403, fmt::format("Forbidden: the admin API is off; set the {} environment "
                                       "variable (gateway.security.adminTokenEnv) or "
                                       "gateway.security.adminTokenFile",
                                       g->config().admin_token_env));
      co_return co_await write(c, res);
    }
    const std::string_view token = access::bearer_value(req[http::field::authorization]);
    const std::string& want = g->admin_token();
    if (token.size() != want.size() || CRYPTO_memcmp(token.data(), want.data(), want.size()) != 0) {
      auto res = error_json(req, 401, "Unauthorized: send the admin token as Authorization: Bearer <token>");
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

  asio::awaitable<bool> admin_tools(Conn& c, const Request& req, const std::string& path,
                                    gate::Gate& g) {
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
      auto res = error_json(req, 400, "Bad request: expected {\"server\": \"NAME\", \"tool\": \"TOOL\"} "
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

  static constexpr std::string_view kResourceMetadata = "/.well-known/oauth-protected-resource";

  /// "scheme://host" of this gateway as the client reached it (for the OAuth metadata).
  std::string public_origin(const Request& req) const {
    const auto& resource = auth_.jwt()->config().resource;
    if (!resource.empty()) {
      auto url = boost::urls::parse_absolute_uri(resource);
      if (url) {
        return fmt::format("{}://{}", std::string_view(url->scheme()),
                           std::string_view(url->encoded_authority()));
      }
    }
    // Host was checked against allowedHosts before routing got here.
    return fmt::format("http://{}", std::string_view(req[http::field::host]));
  }

  /// The challenge of a 401/403: plain Bearer for API keys; with the protected-resource
  /// metadata's address when tokens are accepted (MCP authorization, RFC 9728 §5.1).
  std::string www_authenticate(const Request& req, const std::string& path,
                               const access::AuthResult& who) const {
    std::string h = "Bearer realm=\"mcpgw\"";
    if (auth_.jwt() != nullptr) {
      h += fmt::format(", resource_metadata=\"{}{}{}\"", public_origin(req), kResourceMetadata,
                       path);
    }
    auto quoted = [](std::string_view text) {
      std::string out;
      for (char ch : text) {
        if (ch != '"' && ch != '\\') {
          out.push_back(ch);
        }
      }
      return out;
    };
    if (who.outcome == access::AuthOutcome::forbidden) {
      std::string scopes;
      for (const auto& [name, grant] : auth_.jwt()->config().grants) {
        scopes += scopes.empty() ? name : " " + name;
      }
      h += fmt::format(", error=\"insufficient_scope\", scope=\"{}\", error_description=\"{}\"",
                       quoted(scopes), quoted(who.reason));
    } else if (who.outcome == access::AuthOutcome::invalid) {
      h += fmt::format(", error=\"invalid_token\", error_description=\"{}\"", quoted(who.reason));
    }
    return h;
  }

  /// GET /.well-known/oauth-protected-resource[/path]: where clients learn which authorization
  /// server issues tokens for this gateway (RFC 9728; MCP authorization).
  asio::awaitable<bool> resource_metadata(Conn& c, const Request& req, const std::string& suffix) {
    const auto& cfg = auth_.jwt()->config();
    json::object doc;
    doc["resource"] = !cfg.resource.empty() ? cfg.resource : public_origin(req) + suffix;
    json::array servers;
    for (const auto& s : cfg.authorization_servers) {
      servers.emplace_back(s);
    }
    doc["authorization_servers"] = std::move(servers);
    json::array methods;
    methods.emplace_back("header");
    doc["bearer_methods_supported"] = std::move(methods);
    if (!cfg.grants.empty()) {
      json::array scopes;
      for (const auto& [name, grant] : cfg.grants) {
        scopes.emplace_back(name);
      }
      doc["scopes_supported"] = std::move(scopes);
    }
    doc["resource_name"] = "mcpgw";
    auto res = json_response(req, 200, json::serialize(doc));
    co_return co_await write(c, res);
  }

  /// "/{server}/mcp" (LiteLLM's per-server form) → the server's name, for configured servers.
  std::string litellm_server_path(const std::string& path) const {
    constexpr std::string_view kTail = "/mcp";
    if (path.size() <= kTail.size() + 1 || path.compare(path.size() - kTail.size(), kTail.size(), kTail) != 0) {
      return {};
    }
    std::string name = path.substr(1, path.size() - 1 - kTail.size());
    if (name.find('/') != std::string::npos || relay_.config().find(name) == nullptr) {
      return {};
    }
    return name;
  }

  /// /mcp/{server} is one server under its own names; /mcp/{a},{b} aggregates those servers.
  static bool single_server(const std::string& path_server) {
    return !path_server.empty() && path_server.find(',') == std::string::npos;
  }

  /// A request refused before any session (401, 429) still gets its audit row.
  void audit_refusal(const Request& req, const std::string& path, const access::AuthResult& who) {
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

  /// Whose sessions a new one counts among: the principal's, else the client address's.
  static std::string owner(const Conn& c) {
    return c.principal ? "principal:" + c.principal->name : "address:" + c.peer.to_string();
  }

  /// The reply when no session could be made: 503 (gateway full) or 429 (this client's share)
  /// with Retry-After.
  Response session_refused(const Request& req, const boost::system::error_code& ec,
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

  /// A session belongs to whoever opened it: another key's request gets "not found".
  static bool same_principal(const access::PrincipalPtr& a, const access::PrincipalPtr& b) {
    return a == b || (a && b && a->name == b->name);
  }

  asio::awaitable<bool> not_found(Conn& c, const Request& req) {
    auto res = error_response(req, 404, nullptr, rpc_code::kInvalidRequest,
                              fmt::format("Not found: {} (MCP is served at /mcp, legacy SSE at "
                                          "/sse)", std::string_view(req.target())));
    co_return co_await write(c, res);
  }

  bool host_allowed(std::string_view host) const {
    if (allowed_hosts_.empty()) {
      return true;
    }
    const std::string_view h = host_without_port(host);
    for (const auto& allowed : allowed_hosts_) {
      if (allowed == "*" || beast::iequals(allowed, h) || (allowed == "::1" && h == "[::1]")) {
        return true;
      }
    }
    return false;
  }

  bool origin_allowed(std::string_view origin) const {
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

  // -------------------------------------------------------------------------------------------
  // Streamable HTTP

  asio::awaitable<bool> streamable(Conn& c, Request& req, const std::string& server,
                                   const std::string& endpoint) {
    switch (req.method()) {
      case http::verb::post: co_return co_await streamable_post(c, req, server, endpoint);
      case http::verb::get: co_return co_await streamable_get(c, req, endpoint);
      case http::verb::delete_: co_return co_await streamable_delete(c, req, endpoint);
      default: {
        auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest,
                                  "Method not allowed");
        res.set(http::field::allow, kAllowStreamable);
        co_return co_await write(c, res);
      }
    }
  }

  /// Finds the session a non-initialize request names, or writes the error reply.
  asio::awaitable<SessionPtr> require_session(Conn& c, const Request& req,
                                              const std::string& endpoint, bool& keep) {
    const auto sid = req[kSessionHeader];
    if (sid.empty()) {
      auto res = error_response(req, make_error_code(Errc::session_required));
      keep = co_await write(c, res);
      co_return nullptr;
    }
    SessionPtr s = relay_.find_session(sid);
    if (!s || s->transport != relay::ClientTransport::streamable_http || s->endpoint != endpoint ||
        !same_principal(s->principal, c.principal)) {
      // 404 + -32001 is what tells clients (Claude Code among them) to re-initialize.
      auto res = error_response(req, make_error_code(Errc::session_not_found));
      keep = co_await write(c, res);
      co_return nullptr;
    }
    co_return s;
  }

  /// Checks MCP-Protocol-Version; writes a 400 if it names a version we do not speak.
  asio::awaitable<bool> check_version(Conn& c, const Request& req, std::string& version,
                                      bool& keep) {
    const auto header = req[kVersionHeader];
    if (header.empty()) {
      version = std::string(mcp::kAssumedHeaderVersion);
      co_return true;
    }
    if (!mcp::is_supported(header)) {
      std::string supported;
      for (auto v : mcp::kSupportedVersions) {
        supported += supported.empty() ? std::string(v) : ", " + std::string(v);
      }
      auto res = error_response(req, make_error_code(Errc::unsupported_version), nullptr,
                                fmt::format("Bad Request: Unsupported protocol version: {} "
                                            "(supported versions: {})",
                                            std::string_view(header), supported));
      keep = co_await write(c, res);
      co_return false;
    }
    version = std::string(header);
    co_return true;
  }

  /// The session a request names and the protocol version it speaks; null after writing the
  /// error reply (400/404) when either is wrong.
  asio::awaitable<SessionPtr> session_and_version(Conn& c, const Request& req,
                                                  const std::string& endpoint,
                                                  std::string& version, bool& keep) {
    SessionPtr s = co_await require_session(c, req, endpoint, keep);
    if (!s || !co_await check_version(c, req, version, keep)) {
      co_return nullptr;
    }
    co_return s;
  }

  asio::awaitable<bool> streamable_post(Conn& c, Request& req, const std::string& server,
                                        const std::string& endpoint) {
    const Accepts accepts = parse_accept(req[http::field::accept]);
    if (!accepts.json && !accepts.sse) {
      auto res = error_response(req, 406, nullptr, rpc_code::kServerError,
                                "Not Acceptable: Client must accept application/json or "
                                "text/event-stream");
      co_return co_await write(c, res);
    }
    if (auto ct = req[http::field::content_type]; !ct.empty() && !contains_ci(ct, "json")) {
      auto res = error_response(req, 415, nullptr, rpc_code::kInvalidRequest,
                                "Unsupported Media Type: Content-Type must be application/json");
      co_return co_await write(c, res);
    }
    auto parsed = jsonrpc::parse(req.body(), gw_.limits.max_json_depth);
    if (!parsed) {
      auto res = error_response(req, make_error_code(Errc::parse_error), nullptr,
                                "Parse error: the body is not valid JSON");
      co_return co_await write(c, res);
    }
    if (parsed->is_array()) {
      co_return co_await streamable_batch(c, req, parsed->get_array(), endpoint, accepts);
    }
    std::string_view why;
    const auto kind = jsonrpc::classify(*parsed, &why);
    if (kind == jsonrpc::Kind::invalid) {
      json::value id = nullptr;
      if (parsed->is_object()) {
        if (const auto* v = parsed->get_object().if_contains("id"); v && jsonrpc::valid_id(*v)) {
          id = *v;
        }
      }
      auto res = error_response(req, 400, std::move(id), rpc_code::kInvalidRequest,
                                fmt::format("Invalid Request: {}", why));
      co_return co_await write(c, res);
    }
    json::object msg = std::move(parsed->get_object());
    const std::string_view method = jsonrpc::method(msg);

    // 2026-07-28 clients probe with server/discover first; an immediate "method not found"
    // makes them fall back to initialize at once.
    if (kind == jsonrpc::Kind::request && method == mcp::method::kServerDiscover) {
      auto res = json_response(req, 200, jsonrpc::serialize(jsonrpc::make_error(
          msg.at("id"), rpc_code::kMethodNotFound, "Method not found: server/discover")));
      co_return co_await write(c, res);
    }

    if (kind == jsonrpc::Kind::request && method == mcp::method::kInitialize) {
      co_return co_await streamable_initialize(c, req, std::move(msg), server, endpoint, accepts);
    }

    bool keep = false;
    std::string version;
    SessionPtr s = co_await session_and_version(c, req, endpoint, version, keep);
    if (!s) {
      co_return keep;
    }
    if (kind == jsonrpc::Kind::notification || kind == jsonrpc::Kind::response) {
      // 202 at once: the client must never wait on the gateway's work for these.
      const bool k = co_await write_json(c, req, 202, {}, {});
      if (kind == jsonrpc::Kind::notification) {
        relay_.handle_notification(s, std::move(msg));
      } else {
        relay_.handle_response(s, std::move(msg));
      }
      co_return k;
    }
    auto out = s->new_request_stream(accepts.sse);
    asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), out), asio::detached);
    co_return co_await reply(c, req, s, out, accepts, version, false);
  }

  asio::awaitable<bool> streamable_initialize(Conn& c, Request& req, json::object msg,
                                              const std::string& server,
                                              const std::string& endpoint, Accepts accepts) {
    std::string error;
    auto view = relay_.resolve_view(server, req["x-mcp-servers"], c.principal.get(), error);
    if (!view) {
      auto res = error_response(req, 404, msg.at("id"), rpc_code::kInvalidParams, error);
      co_return co_await write(c, res);
    }
    auto created = relay_.create_session(relay::ClientTransport::streamable_http, std::move(*view),
                                         single_server(server), endpoint, owner(c));
    if (!created) {
      auto res = session_refused(req, created.error(), msg.at("id"));
      co_return co_await write(c, res);
    }
    SessionPtr s = *created;
    s->principal = c.principal;
    s->scope_name = c.scope;
    if (relay_.forwards_authorization()) {
      s->authorization = std::string(req[http::field::authorization]);
    }
    std::string version(mcp::kAssumedHeaderVersion);
    if (const auto* p = msg.if_contains("params"); p && p->is_object()) {
      if (const auto* v = p->get_object().if_contains("protocolVersion"); v && v->is_string()) {
        version = std::string(mcp::negotiate(v->get_string()));
      }
    }
    auto out = s->new_request_stream(accepts.sse);
    asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), out), asio::detached);
    co_return co_await reply(c, req, s, out, accepts, version, true);
  }

  /// JSON-RPC batches (2025-03-26): each request answered, all in one JSON array.
  asio::awaitable<bool> streamable_batch(Conn& c, Request& req, json::array& batch,
                                         const std::string& endpoint, Accepts) {
    if (batch.empty()) {
      auto res = error_response(req, 400, nullptr, rpc_code::kInvalidRequest,
                                "Invalid Request: empty batch");
      co_return co_await write(c, res);
    }
    bool keep = false;
    std::string version;
    SessionPtr s = co_await session_and_version(c, req, endpoint, version, keep);
    if (!s) {
      co_return keep;
    }
    json::array replies;
    std::vector<std::shared_ptr<EventStream>> streams;
    for (auto& item : batch) {
      std::string_view why;
      const auto kind = jsonrpc::classify(item, &why);
      if (kind == jsonrpc::Kind::invalid) {
        replies.push_back(jsonrpc::make_error(nullptr, rpc_code::kInvalidRequest,
                                              fmt::format("Invalid Request: {}", why)));
        continue;
      }
      json::object msg = std::move(item.get_object());
      if (kind == jsonrpc::Kind::notification) {
        relay_.handle_notification(s, std::move(msg));
      } else if (kind == jsonrpc::Kind::response) {
        relay_.handle_response(s, std::move(msg));
      } else if (jsonrpc::method(msg) == mcp::method::kInitialize) {
        replies.push_back(jsonrpc::make_error(msg.at("id"), rpc_code::kInvalidRequest,
                                              "initialize must not be part of a batch"));
      } else {
        auto out = s->new_request_stream(false);
        streams.push_back(out);
        asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), out), asio::detached);
      }
    }
    for (auto& out : streams) {
      while (!out->finished()) {
        out->wake().reset();
        co_await out->wake().wait_until(Clock::time_point::max());
      }
      if (const auto* e = out->front()) {
        replies.push_back(jsonrpc::parse(e->data).value());
      }
    }
    if (replies.empty()) {
      auto res = json_response(req, 202, std::string());
      co_return co_await write(c, res);
    }
    auto res = json_response(req, 200, jsonrpc::serialize(replies));
    co_return co_await write(c, res);
  }

  /// Answers one POSTed request from its stream: plain JSON when the response is all there is
  /// (or the client takes nothing else), an SSE stream when notifications or server requests
  /// come first.
  asio::awaitable<bool> reply(Conn& c, Request& req, const SessionPtr& s,
                              const std::shared_ptr<EventStream>& out, Accepts accepts,
                              const std::string& version, bool initialize) {
    while (out->size() == 0 && !out->finished()) {
      out->wake().reset();
      co_await out->wake().wait_until(Clock::time_point::max());
    }
    const bool only_final = out->finished() && out->size() == 1;
    if (accepts.json && (only_final || !accepts.sse)) {
      const std::string_view body = out->front() ? std::string_view(out->front()->data) : "";
      out->mark_delivered(out->last_seq());
      std::string_view session_id;
      if (initialize) {
        if (s->initialized) {
          session_id = s->id;
        } else {
          relay_.close_session(s, "initialize failed");
        }
      }
      co_return co_await write_json(c, req, 200, body, session_id);
    }
    s->register_stream(out);  // an SSE reply can be resumed with Last-Event-ID
    const bool priming = mcp::at_least(version, mcp::kPrimingVersion);
    // Named locals, not temporaries, in co_await expressions (g++ 12 coroutine temporaries).
    std::string session_header = initialize ? s->id : std::string();
    const bool ok = co_await write_sse(c, req, s, out, 0, priming, std::move(session_header),
                                       false, std::string());
    s->prune_streams();
    co_return ok;
  }

  asio::awaitable<bool> streamable_get(Conn& c, Request& req, const std::string& endpoint) {
    const Accepts accepts = parse_accept(req[http::field::accept]);
    bool keep = false;
    std::string version;
    SessionPtr s = co_await session_and_version(c, req, endpoint, version, keep);
    if (!s) {
      co_return keep;
    }
    if (!accepts.sse) {
      auto res = error_response(req, 406, nullptr, rpc_code::kServerError,
                                "Not Acceptable: Client must accept text/event-stream");
      co_return co_await write(c, res);
    }
    // Resume: Last-Event-ID names the stream and the last event the client saw.
    std::shared_ptr<EventStream> stream = s->standalone();
    std::uint64_t after = stream->delivered();
    if (auto last = req["Last-Event-ID"]; !last.empty()) {
      std::uint64_t number = 0;
      std::uint64_t seq = 0;
      if (EventStream::parse_event_id(last, number, seq)) {
        if (auto found = s->find_stream(number)) {
          stream = found;
          after = seq;
        }
      }
    }
    const bool priming = mcp::at_least(version, mcp::kPrimingVersion);
    s->touch();
    const bool ok = co_await write_sse(c, req, s, stream, after, priming, std::string(), false,
                                       std::string());
    s->touch();
    co_return ok;
  }

  asio::awaitable<bool> streamable_delete(Conn& c, Request& req, const std::string& endpoint) {
    bool keep = false;
    SessionPtr s = co_await require_session(c, req, endpoint, keep);
    if (!s) {
      co_return keep;
    }
    relay_.close_session(s, "DELETE");
    auto res = json_response(req, 200, std::string());
    co_return co_await write(c, res);
  }

  // -------------------------------------------------------------------------------------------
  // SSE writing

  asio::awaitable<bool> write_raw(Conn& c, std::string_view data) {
    co_return co_await send(c, asio::const_buffer(data.data(), data.size()));
  }

  asio::awaitable<bool> write_chunk(Conn& c, std::string_view data, bool chunked) {
    if (!chunked) {
      co_return co_await write_raw(c, data);
    }
    std::string framed = fmt::format("{:x}\r\n", data.size());
    framed.append(data).append("\r\n");
    co_return co_await write_raw(c, framed);
  }

  /// Watches the connection while a stream is open: ends with the client going away, or with
  /// bytes of a pipelined request (kept in the buffer for later).
  asio::awaitable<boost::system::error_code> probe(Conn& c) {
    const std::size_t want = net::read_size(c.buffer);
    if (want == 0) {
      co_return http::error::buffer_overflow;  // a client that pipelines without end
    }
    auto [ec, n] = co_await c.stream.socket().async_read_some(c.buffer.prepare(want),
                                                              asio::as_tuple(asio::use_awaitable));
    c.buffer.commit(n);
    co_return ec;
  }

  /// Writes `stream` as an SSE response from event `after` on. Returns whether the connection
  /// can carry another request.
  asio::awaitable<bool> write_sse(Conn& c, const Request& req, SessionPtr s,
                                  std::shared_ptr<EventStream> stream, std::uint64_t after,
                                  bool priming, std::string session_header, bool legacy,
                                  std::string prelude) {
    http::response<http::empty_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "mcpgw");
    if (auto origin = req[http::field::origin]; !origin.empty()) {
      res.set(http::field::access_control_allow_origin, origin);
      res.set(http::field::access_control_expose_headers, "Mcp-Session-Id, MCP-Protocol-Version");
      res.set(http::field::vary, "Origin");
    }
    res.set(http::field::content_type, "text/event-stream");
    res.set(http::field::cache_control, "no-cache, no-transform");
    res.set("X-Accel-Buffering", "no");
    if (!session_header.empty()) {
      res.set(kSessionHeader, session_header);
    }
    const bool chunked = req.version() >= 11;
    res.keep_alive(chunked && req.keep_alive());
    if (chunked) {
      res.chunked(true);
    }
    http::response_serializer<http::empty_body> sr{res};
    c.stream.expires_after(gw_.timeouts.write);
    auto [hec, hn] = co_await http::async_write_header(c.stream, sr,
                                                       asio::as_tuple(asio::use_awaitable));
    c.stream.expires_never();
    if (hec) {
      co_return false;
    }

    const std::uint64_t writer = stream->attach();
    std::uint64_t cursor = after;
    std::string chunk = std::move(prelude);
    if (priming && !legacy) {
      // Priming event (2025-11-25): an id and empty data, so the client can resume from here.
      chunk.append("id: ").append(stream->event_id(cursor)).append("\ndata: \n\n");
    }
    bool client_open = true;
    for (;;) {
      stream->wake().reset();
      if (!stream->is_writer(writer)) {
        break;  // a newer GET took this stream over
      }
      stream->for_each_after(cursor, [&](const relay::StreamEvent& e) {
        append_event(chunk, legacy ? std::string_view() : stream->event_id(e.seq), e.data);
        cursor = e.seq;
      });
      if (!chunk.empty()) {
        if (!co_await write_chunk(c, chunk, chunked)) {
          client_open = false;
          break;
        }
        chunk.clear();
        stream->mark_delivered(cursor);
      }
      if (stream->finished() && cursor >= stream->last_seq()) {
        break;  // everything sent
      }
      if (stopping_ && stream->finished()) {
        break;
      }
      const auto keepalive_at = Clock::now() + gw_.timeouts.keep_alive;
      bool woke = true;
      if (c.probing) {
        auto which = co_await (stream->wake().wait_until(keepalive_at) || probe(c));
        if (which.index() == 1) {
          if (std::get<1>(which)) {
            client_open = false;
            break;
          }
          c.probing = false;  // pipelined bytes: stop probing, they wait in the buffer
          continue;
        }
        woke = std::get<0>(which);
      } else {
        woke = co_await stream->wake().wait_until(keepalive_at);
      }
      if (!woke && Clock::now() >= keepalive_at) {
        if (!co_await write_chunk(c, ": keep-alive\n\n", chunked)) {
          client_open = false;
          break;
        }
        s->touch();
      }
    }
    stream->detach(writer);
    c.probing = true;
    if (!client_open) {
      co_return false;
    }
    if (!chunked) {
      co_return false;  // HTTP/1.0: the body ends with the connection
    }
    if (!co_await write_raw(c, "0\r\n\r\n")) {
      co_return false;
    }
    // The response is whole (its stream completed, or a newer GET took the stream over): the
    // connection was promised to the client as reusable and stays so. Closing it here would
    // race a client that already sent its next request on it.
    co_return req.keep_alive() && !stopping_;
  }

  // -------------------------------------------------------------------------------------------
  // Legacy HTTP+SSE (2024-11-05)


  // -------------------------------------------------------------------------------------------
  // The LiteLLM-compatible REST surface: the same auth, permissions and audit as MCP, through
  // one internal session per caller.

  /// The caller's REST session (made, and initialized, on first use; remade if it expired).
  asio::awaitable<SessionPtr> rest_session(const access::PrincipalPtr& who) {
    const std::string key = who ? who->name : std::string();
    if (auto it = rest_sessions_.find(key); it != rest_sessions_.end() && !it->second->closed) {
      co_return it->second;
    }
    std::string error;
    auto view = relay_.resolve_view({}, {}, who.get(), error);
    auto created = relay_.create_session(relay::ClientTransport::streamable_http,
                                         view ? std::move(*view) : std::vector<std::string>{},
                                         false, "/mcp-rest");
    if (!created) {
      co_return nullptr;
    }
    SessionPtr s = *created;
    s->principal = who;
    json::object params;
    params["protocolVersion"] = mcp::kLatestVersion;
    params["capabilities"] = json::object();
    json::object info;
    info["name"] = "mcpgw-rest";
    info["version"] = MCPGW_VERSION;
    params["clientInfo"] = std::move(info);
    co_await ask(s, jsonrpc::make_request(0, mcp::method::kInitialize, std::move(params)));
    rest_sessions_[key] = s;
    co_return s;
  }

  /// Runs one request through the relay on `s`; returns its response.
  asio::awaitable<json::object> ask(const SessionPtr& s, json::object request) {
    auto out = s->new_request_stream(false);
    co_await relay_.handle_request(s, std::move(request), out);
    const auto* event = out->front();
    if (event == nullptr) {
      co_return jsonrpc::make_error(nullptr, rpc_code::kInternalError, "no response");
    }
    auto parsed = jsonrpc::parse(event->data);
    if (!parsed || !parsed->is_object()) {
      co_return jsonrpc::make_error(nullptr, rpc_code::kInternalError, "no response");
    }
    co_return std::move(parsed->get_object());
  }

  asio::awaitable<bool> rest(Conn& c, Request& req, const std::string& path,
                             const std::string& server_id) {
    const bool is_call = path == "/mcp-rest/tools/call";
    if (req.method() != (is_call ? http::verb::post : http::verb::get)) {
      auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest, "Method not allowed");
      res.set(http::field::allow, is_call ? "POST" : "GET");
      co_return co_await write(c, res);
    }
    const std::string& sep = relay_.config().gateway.separator;
    if (path == "/v1/mcp/server") {
      // Servers the caller may use, with their health: a bare array, as LiteLLM answers.
      const json::object health = relay_.health();
      json::array servers;
      for (const auto& cfg : relay_.config().servers) {
        if (c.principal && !c.principal->allows_server(cfg.name)) {
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
      auto res = json_response(req, 200, json::serialize(servers));
      co_return co_await write(c, res);
    }
    SessionPtr s = co_await rest_session(c.principal);
    if (!s) {
      auto res = error_json(req, 503, "too many sessions");
      co_return co_await write(c, res);
    }
    if (!is_call) {
      json::object reply = co_await ask(s, jsonrpc::make_request(1, mcp::method::kToolsList, {}));
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
      auto res = json_response(req, 200, jsonrpc::serialize(body));
      co_return co_await write(c, res);
    }
    auto parsed = jsonrpc::parse(req.body(), gw_.limits.max_json_depth);
    if (!parsed || !parsed->is_object() || !parsed->get_object().contains("name") ||
        !parsed->get_object().at("name").is_string()) {
      auto res = error_json(req, 400, "expected a JSON body {\"name\": …, \"arguments\": {…}}");
      co_return co_await write(c, res);
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
    json::object reply = co_await ask(s, jsonrpc::make_request(1, mcp::method::kToolsCall,
                                                               std::move(params)));
    if (const auto* e = reply.if_contains("error"); e && e->is_object()) {
      const auto& err = e->get_object();
      const bool unknown = err.contains("code") && err.at("code").is_int64() &&
                           err.at("code").get_int64() == rpc_code::kInvalidParams;
      auto res = error_json(req, unknown ? 404 : 502, err.contains("message") && err.at("message").is_string()
                                                     ? std::string_view(err.at("message").as_string())
                                                     : std::string_view("error"));
      co_return co_await write(c, res);
    }
    auto res = json_response(req, 200, jsonrpc::serialize(reply["result"]));
    co_return co_await write(c, res);
  }

  asio::awaitable<bool> legacy_stream(Conn& c, Request& req, const std::string& server,
                                      const std::string& endpoint) {
    if (req.method() == http::verb::post) {
      // A Streamable HTTP client pointed at /sse: tell it where to go.
      auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest,
                                "This is the legacy SSE endpoint: GET it for an event stream, "
                                "or POST to /mcp (Streamable HTTP)");
      res.set(http::field::allow, "GET");
      co_return co_await write(c, res);
    }
    if (req.method() != http::verb::get) {
      auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest, "Method not allowed");
      res.set(http::field::allow, "GET");
      co_return co_await write(c, res);
    }
    std::string error;
    auto view = relay_.resolve_view(server, req["x-mcp-servers"], c.principal.get(), error);
    if (!view) {
      auto res = error_response(req, 404, nullptr, rpc_code::kInvalidParams, error);
      co_return co_await write(c, res);
    }
    auto created = relay_.create_session(relay::ClientTransport::legacy_sse, std::move(*view),
                                         single_server(server), endpoint, owner(c));
    if (!created) {
      auto res = session_refused(req, created.error(), nullptr);
      co_return co_await write(c, res);
    }
    SessionPtr s = *created;
    s->principal = c.principal;
    s->scope_name = c.scope;
    if (relay_.forwards_authorization()) {
      s->authorization = std::string(req[http::field::authorization]);
    }
    s->protocol_version = "2024-11-05";
    // The endpoint event: where this client POSTs its messages (relative to this URL).
    std::string prelude = fmt::format("event: endpoint\ndata: /message?sessionId={}\n\n", s->id);
    auto stream = s->standalone();
    const bool keep =
        co_await write_sse(c, req, s, stream, 0, false, std::string(), true, std::move(prelude));
    // For legacy SSE the stream is the session: when it ends, so does the session.
    relay_.close_session(s, "SSE stream closed");
    co_return keep;
  }

  asio::awaitable<bool> legacy_post(Conn& c, Request& req, const std::string& sid) {
    if (req.method() != http::verb::post) {
      auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest, "Method not allowed");
      res.set(http::field::allow, "POST");
      co_return co_await write(c, res);
    }
    SessionPtr s = sid.empty() ? nullptr : relay_.find_session(sid);
    if (!s || s->transport != relay::ClientTransport::legacy_sse ||
        !same_principal(s->principal, c.principal)) {
      auto res = error_response(req, make_error_code(Errc::session_not_found), nullptr,
                                sid.empty() ? "Missing sessionId" : "Session not found");
      co_return co_await write(c, res);
    }
    auto parsed = jsonrpc::parse(req.body(), gw_.limits.max_json_depth);
    if (!parsed) {
      auto res = error_response(req, make_error_code(Errc::parse_error), nullptr,
                                "Parse error: the body is not valid JSON");
      co_return co_await write(c, res);
    }
    std::vector<json::object> messages;
    if (parsed->is_array()) {
      for (auto& item : parsed->get_array()) {
        if (item.is_object()) {
          messages.push_back(std::move(item.get_object()));
        }
      }
    } else if (parsed->is_object()) {
      messages.push_back(std::move(parsed->get_object()));
    }
    if (messages.empty()) {
      auto res = error_response(req, 400, nullptr, rpc_code::kInvalidRequest,
                                "Invalid Request: expected a JSON-RPC message");
      co_return co_await write(c, res);
    }
    for (auto& msg : messages) {
      std::string_view why;
      const auto kind = jsonrpc::classify(msg, &why);
      if (kind == jsonrpc::Kind::invalid) {
        json::value id = nullptr;
        if (const auto* v = msg.if_contains("id"); v && jsonrpc::valid_id(*v)) {
          id = *v;
        }
        auto res = error_response(req, 400, std::move(id), rpc_code::kInvalidRequest,
                                  fmt::format("Invalid Request: {}", why));
        co_return co_await write(c, res);
      }
    }
    // Accepted at once; every reply travels on the session's SSE stream.
    Response res{http::status::accepted, req.version()};
    common_headers(req, res);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = "Accepted";
    res.prepare_payload();
    const bool keep = co_await write(c, res);
    for (auto& msg : messages) {
      const auto kind = jsonrpc::classify(msg);
      if (kind == jsonrpc::Kind::request) {
        if (jsonrpc::method(msg) == mcp::method::kServerDiscover) {
          s->standalone()->push(jsonrpc::serialize(jsonrpc::make_error(
              msg.at("id"), rpc_code::kMethodNotFound, "Method not found: server/discover")));
          continue;
        }
        asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), s->standalone()),
                       asio::detached);
      } else if (kind == jsonrpc::Kind::notification) {
        relay_.handle_notification(s, std::move(msg));
      } else {
        relay_.handle_response(s, std::move(msg));
      }
    }
    co_return keep;
  }

  asio::io_context& ioc_;
  relay::Relay& relay_;
  access::Authenticator& auth_;
  std::shared_ptr<upstream::JwksFetcher> jwks_;  ///< auth mode jwt with a JWKS URL
  std::unordered_map<std::string, SessionPtr> rest_sessions_;  ///< by key name ("" without auth)
  const config::GatewayConfig& gw_;
  tcp::acceptor acceptor_;
  std::vector<std::string> allowed_hosts_;
  std::set<beast::tcp_stream*> connections_;
  Admission admission_{gw_.limits};
  std::shared_ptr<void> alive_ = std::make_shared<int>(0);  ///< expires with the server
  std::size_t trim_mark_ = 0;  ///< connections at the last heap trim, or the peak since then
  const std::size_t memory_budget_ = budget_of(gw_.limits);
  bool shedding_ = false;  ///< over the memory budget: new requests get 503
  bool stopping_ = false;
};

// ---------------------------------------------------------------------------------------------

HttpServer::HttpServer(asio::io_context& ioc, relay::Relay& relay, const config::Config& cfg,
                       access::Authenticator& auth)
    : impl_(std::make_unique<Impl>(ioc, relay, cfg, auth)) {}
HttpServer::~HttpServer() = default;
bool HttpServer::listen(const std::string& host, std::uint16_t port, std::string& error) {
  return impl_->listen(host, port, error);
}
std::uint16_t HttpServer::port() const noexcept { return impl_->port(); }
void HttpServer::start() { impl_->start(); }
asio::awaitable<void> HttpServer::shutdown(std::chrono::milliseconds drain) {
  return impl_->shutdown(drain);
}

}  // namespace mcpgw::server
