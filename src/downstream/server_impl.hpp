#pragma once
// The HTTP front door's state, and its handlers split by surface: listener.cpp (accept, the
// connection's life, memory), connection.cpp (reading a request, writing a response),
// router.cpp (Host/Origin, authentication, which surface), the stream adapters
// streamable_http.cpp, sse_writer.cpp and legacy_sse.cpp (they write as events come), and the
// surfaces that answer with one message the router writes: rest.cpp, admin_api.cpp,
// oauth_metadata.cpp, health.cpp.
#include "downstream/http_server.hpp"
#include "downstream/http_util.hpp"
#include "common/clock.hpp"
#include "common/scope_exit.hpp"
#include "net/http_read.hpp"
#include "downstream/admission.hpp"
#include "upstream/process_budget.hpp"
#include "common/error.hpp"
#include "common/memory.hpp"
#include "common/metrics.hpp"
#include "common/random.hpp"
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
#include <variant>

namespace mcpgw::downstream {

}  // namespace mcpgw::downstream

namespace mcpgw::upstream {
struct ConsentState;
}  // namespace mcpgw::upstream

namespace mcpgw::downstream {

class HttpServer::Impl {
 public:
  Impl(asio::io_context& ioc, relay::Relay& relay, const config::Config& cfg,
       access::Authenticator& auth)
      : ioc_(ioc), relay_(relay), auth_(auth), gw_(cfg.gateway), acceptor_(ioc),
        metrics_acceptor_(ioc) {
    reconfigured();
    auth_changed();
  }

  bool listen(const std::string& host, std::uint16_t port, std::string& error);
  bool listen_metrics(const std::string& host, std::uint16_t port, std::string& error);

  std::uint16_t port() const noexcept;
  std::uint16_t metrics_port() const noexcept;

  void start();

  /// Makes again what is derived from the configuration (after a reload).
  void reconfigured() {
    allowed_hosts_ = gw_.allowed_hosts;
    if (allowed_hosts_.empty() && config::is_loopback_host(gw_.listen_host)) {
      allowed_hosts_ = {"localhost", "127.0.0.1", "[::1]"};
    }
    for (auto& h : allowed_hosts_) {
      h = lower(h);
    }
    settings_admin_token_ =
        gate::read_admin_token(gw_.security.admin_token_env, gw_.security.admin_token_file);
  }
  void set_reload(HttpServer::Reload reload) { reload_ = std::move(reload); }
  /// The authenticator took new settings: a JWKS URL gets its own fetcher (the previous one
  /// stops; a request waiting on it keeps it until it is done).
  void auth_changed() {
    if (jwks_) {
      jwks_->stop();
      jwks_.reset();
    }
    if (auth_.jwt() != nullptr && auth_.jwt()->config().jwks_is_url) {
      jwks_ = std::make_shared<upstream::JwksFetcher>(ioc_.get_executor(), *auth_.jwt(),
                                                      gw_.timeouts.connect);
      if (started_) {
        jwks_->start();
      }
    }
  }

  asio::awaitable<void> shutdown(std::chrono::milliseconds drain);

 private:
  struct Conn {
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    access::PrincipalPtr principal;  ///< who sent the request being handled (auth on)
    std::string scope;    ///< the taint scope the request names (/scope/{id}, x-mcp-scope)
    bool probing = true;  ///< watching for the client going away while a stream is open
    asio::ip::address peer;          ///< the client's address
    std::string peer_text;           ///< …as text, made once (hidden sessions' owner)
    std::string counted_as;          ///< the principal it counts for (maxConnectionsPerPrincipal)
    bool key_in_authorization = false;  ///< its API key came as Authorization: not passed on
    access::KeyMemo key_memo;        ///< the last API key it sent, and its digest
    bool metrics_only = false;       ///< accepted on gateway.metrics.listen
    std::string request_id;          ///< the request being handled (X-Request-Id)
    std::string traceparent;         ///< …its traceparent header (read with tracing on)
  };

  /// The request's X-Request-Id if it sent a well-formed one (1 to 64 of A-Z a-z 0-9 . _ : -),
  /// else a new one: this process's random prefix and a sequence number.
  std::string request_id_of(const Request& req);

  static bool open_acceptor(tcp::acceptor& acceptor, const std::string& host,
                            std::uint16_t port, std::string& error);

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool metrics_only);

  asio::awaitable<void> run_connection(tcp::socket socket, asio::ip::address peer,
                                       bool metrics_only);

  /// The most a connection buffers of what it has not parsed yet: a whole header section, one
  /// chunk-size line or the trailers must fit.
  std::size_t read_buffer_max() const;

  /// After a crowd of connections (and their sessions) has gone, hands the freed heap back to
  /// the OS, so memory returns to its baseline instead of staying at the peak. Checks every
  /// 2 s; trims only when the connections have at least halved from a peak of 256 or more:
  /// rare, and O(heap) when it happens.
  asio::awaitable<void> release_memory();

  /// Checks the resident size every second against the memory budget. Over it, new requests
  /// are shed with 503 until it is back under 90% of the budget: better a client that retries
  /// than a gateway the OOM killer ends with every session.
  asio::awaitable<void> watch_memory();

  static std::size_t budget_of(const config::Limits& limits);

  /// /healthz: the relay's view plus the limits and how close the gateway is to them.
  json::object health() const;

  asio::awaitable<void> serve(Conn& c);

  /// Reads one request: the connection may idle until its first byte (connectionIdleMs), then
  /// the headers have headerMs and the body bodyMs. The body counts as sent: chunk framing,
  /// extensions and trailers are part of limits.maxBodyBytes.
  asio::awaitable<boost::system::error_code> read_request(
      Conn& c, http::request_parser<http::string_body>& parser);

  /// After refusing a request the client is still sending (a body or a line too large): stop
  /// sending, and read and drop what arrives for a moment, so the refusal is not lost to a
  /// reset before the client reads it. Bounded by time, never by memory.
  asio::awaitable<void> linger(Conn& c);

  /// The reply to a request that could not be read, if the client should get one.
  std::optional<Response> read_error_response(const boost::system::error_code& ec,
                                              bool got_some);

  // -------------------------------------------------------------------------------------------
  // Responses

  void common_headers(const Request& req, Response& res);

  Response json_response(const Request& req, unsigned status, std::string body);

  /// {"error": message}: the error body of the REST surface and of the admin API.
  Response error_json(const Request& req, unsigned status, std::string_view message);

  Response error_response(const Request& req, unsigned status, json::value id, int code,
                          std::string_view message);

  Response error_response(const Request& req, const boost::system::error_code& ec,
                          json::value id = nullptr, std::string_view message = {});

  /// The hot path's reply: a 200/202 (or, refusing a stateless request, 400) JSON body written
  /// as one preformatted buffer (no
  /// header-field containers, one gathered send).
  asio::awaitable<bool> write_json(Conn& c, const Request& req, unsigned status,
                                   std::string_view body, std::string_view session_id);

  asio::awaitable<bool> write(Conn& c, Response& res);

  /// The request's body as JSON (one parse, limits.maxJsonDepth); else `refusal` is the 400.
  boost::system::result<json::value> parse_body(const Request& req, Response& refusal);

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

  asio::awaitable<bool> handle(Conn& c, Request& req);
  /// Two Hosts or Origins (400), a Host or Origin that is not allowed (403).
  std::optional<Response> check_request(const Request& req);
  /// The CORS preflight's 204.
  Response preflight(const Request& req);
  /// The taint scope the request names (/scope/{id}/… taken off `path`, or x-mcp-scope);
  /// 400 for a malformed one.
  std::optional<Response> take_scope(Conn& c, const Request& req, std::string& path);
  static bool is_rest_path(const std::string& path);
  /// Paths that reach servers: authentication comes first on them.
  bool is_mcp_path(const std::string& path) const;
  /// Sets the connection's principal; 401/403 (with WWW-Authenticate) or 429 when refused.
  static bool is_health_path(std::string_view path);
  /// /oauth/start, /oauth/callback and /oauth/client.json (oauth_pages.cpp).
  static bool is_oauth_page(std::string_view path);
  /// /readyz: 200 when a server can serve and the gateway is neither draining nor overloaded.
  Response readiness(const Request& req);
  /// The shared key store's state in /readyz; not ready while no key can be checked.
  void key_store_readiness(json::object& body, bool& ready);
  /// A shared tool pin store: shown, and not ready until its pins are read.
  void pin_store_readiness(json::object& body, bool& ready);
  /// GET /metrics: the registry's counters and histograms, then gauges read now.
  Response metrics(const Request& req);
  void write_gauges(metrics::Text& out) const;
  /// A connection of gateway.metrics.listen: /metrics, else 404 (its own Host check).
  Response metrics_only(const Request& req, const std::string& path);
  /// Counts a response by status (mcpgw_http_responses_total).
  void count_response(unsigned status) noexcept {
    ++responses_[status < responses_.size() ? status : 0];
  }
  /// The request's credential headers, the client's address and the connection's key memo.
  static access::Credentials credentials(Conn& c, const Request& req);
  asio::awaitable<std::optional<Response>> authenticate(Conn& c, const Request& req,
                                                        const std::string& path);
  /// Takes the request from its key's bucket in Redis; `who` becomes a 429 (or a 503 when
  /// Redis cannot be read and the cluster fails closed).
  asio::awaitable<void> take_shared_rate(relay::SharedRates& rates, access::AuthResult& who);
  /// Counts the connection for its principal; 429 when the principal holds
  /// limits.maxConnectionsPerPrincipal connections already.
  std::optional<Response> count_principal(Conn& c, const Request& req);
  /// The surface the path names: Streamable HTTP, legacy SSE, REST, /healthz; else 404.
  asio::awaitable<bool> to_surface(Conn& c, Request& req, const std::string& path,
                                   const boost::urls::url_view& target);

  /// The admin API, for an administrator with the admin token, never for agents (403 while
  /// no token is set, 401 without it): GET /admin/servers, /admin/sessions, /admin/keys,
  /// /admin/audit?limit=N, /admin/approvals (held calls), /admin/tools (pins and
  /// quarantine); POST /admin/approvals/{id} {"decision": "approve"|"deny"},
  /// /admin/tools/approve {"server", "tool"}, /admin/reload.
  asio::awaitable<Response> admin(const Request& req, const std::string& path,
                                  const boost::urls::url_view& target);
  /// The token the admin API and the dashboard take: the gate's, else the one the settings
  /// name (gateway.security.adminTokenEnv / adminTokenFile); empty: the admin API is off.
  const std::string& admin_token() const;
  /// Null when `req` carries `want` as its bearer token (compared in constant time), else
  /// the 401 that answers it.
  std::optional<Response> refuse_token(const Request& req, const std::string& want);
  /// An audit row for an administrator's change (principal "admin") or a refused token.
  void audit_admin(const Request& req, const std::string& path, std::string outcome,
                   std::string detail);
  /// POST /admin/reload: runs the reload set by set_reload.
  Response admin_reload(const Request& req, const std::string& path);
  /// Held approvals: this replica's, and with gateway.cluster.redis every replica's.
  asio::awaitable<Response> admin_approvals(const Request& req, const std::string& path,
                                            gate::Gate& g);
  /// POST /admin/approvals/{id}: decided here, or for the replica that holds it.
  asio::awaitable<Response> admin_decide(const Request& req, const std::string& path,
                                         gate::Gate& g);
  Response admin_tools(const Request& req, const std::string& path, gate::Gate& g);
  /// The read-only views (admin_views.cpp); nullopt for another path.
  std::optional<Response> admin_view(const Request& req, const std::string& path,
                                     const boost::urls::url_view& target);
  /// A string field of a JSON object body; empty when absent or not a string.
  static std::string string_field(const std::string& body, std::string_view name);
  /// GET /ui, /ui/app.js, /ui/style.css: the dashboard's static page (dashboard.cpp), which
  /// asks for the admin token and reads the admin API with it.
  Response dashboard(const Request& req, const std::string& path);

  static constexpr std::string_view kResourceMetadata = "/.well-known/oauth-protected-resource";

  /// "scheme://host" of this gateway as the client reached it (for the OAuth metadata).
  std::string public_origin(const Request& req) const;

  /// The challenge of a 401/403: plain Bearer for API keys; with the protected-resource
  /// metadata's address when tokens are accepted (MCP authorization, RFC 9728 §5.1).
  std::string www_authenticate(const Request& req, const std::string& path,
                               const access::AuthResult& who) const;

  /// GET /.well-known/oauth-protected-resource[/path]: where clients learn which authorization
  /// server issues tokens for this gateway (RFC 9728; MCP authorization).
  Response resource_metadata(const Request& req, const std::string& suffix);

  /// /oauth/…: where users connect their own accounts for servers with auth "oauth"
  /// (oauth_pages.cpp). Reached without an API key: the links carry sealed tickets.
  asio::awaitable<Response> oauth_pages(const Request& req, const std::string& path,
                                        const boost::urls::url_view& target);
  asio::awaitable<Response> oauth_start(const Request& req, const std::string& form, bool get);
  asio::awaitable<Response> oauth_callback(const Request& req, const std::string& query);
  /// /oauth/start for a stdio server whose env reads `${user:NAME}`: a form for the user's
  /// own values, kept in the vault (as `mcpgw secrets set` does).
  asio::awaitable<Response> values_page(const Request& req, config::ServerConfig server,
                                        const std::string& form, bool get);
  void audit_values(const std::string& principal, const std::string& server,
                    const std::vector<std::string>& names, const std::string& error);
  /// An audit row for a user's consent: connected (ok), refused (denied), or failed (error).
  void audit_consent(const upstream::ConsentState& st, std::string outcome, std::string detail);

  /// POST /register while the gateway takes API keys only: a registration error (RFC 7591)
  /// whose description tells the user how to send a key, instead of a bare 404.
  Response keys_only_registration(const Request& req);

  /// "/{server}/mcp" (LiteLLM's per-server form) → the server's name, for configured servers.
  std::string litellm_server_path(const std::string& path) const;

  /// /mcp/{server} is one server under its own names; /mcp/{a},{b} aggregates those servers.
  static bool single_server(const std::string& path_server);

  /// A request refused before any session (401, 429) still gets its audit row.
  void audit_refusal(const Request& req, const std::string& path, const access::AuthResult& who);

  /// Whose sessions a new one counts among: the principal's, else the client address's.
  static std::string owner(const Conn& c);

  /// The reply when no session could be made: 503 (gateway full) or 429 (this client's share)
  /// with Retry-After.
  Response session_refused(const Request& req, const boost::system::error_code& ec,
                           json::value id);

  /// What the request passes to each server of `view` that allows it: x-mcp-{server}-{header}
  /// for the headers in gateway.servers.NAME.passHeaders (LiteLLM's convention).
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> passed_headers(
      const Request& req, const std::vector<std::string>& view) const;

  /// A new session for the connection's principal, in its taint scope (and with its
  /// Authorization when a server is to receive it); the error when the limits refuse one.
  static std::string client_authorization(const Conn& c, const Request& req);
  boost::system::result<SessionPtr> open_session(const Conn& c, const Request& req,
                                                 relay::ClientTransport transport,
                                                 std::vector<std::string> view,
                                                 const std::string& server,
                                                 const std::string& endpoint,
                                                 const json::object* handshake = nullptr);
  /// A session of another replica's, made again from its sealed id (gateway.cluster) for the
  /// connection's principal; null when the id cannot be, with `refusal` saying why when it is
  /// bound to its replica.
  SessionPtr revive_session(const Conn& c, const Request& req, std::string_view sid,
                            const std::string& endpoint, std::string& refusal);

  /// A session belongs to whoever opened it: another key's request gets "not found".
  static bool same_principal(const access::PrincipalPtr& a, const access::PrincipalPtr& b);

  Response not_found(const Request& req);

  bool host_allowed(std::string_view host) const { return host_in(allowed_hosts_, host); }
  /// Whether `host` (a Host header) names one of `list` (empty: any).
  static bool host_in(const std::vector<std::string>& list, std::string_view host);

  bool origin_allowed(std::string_view origin) const;
  /// Whether `origin` is "http(s)://" + `host` (the request's Host): a page of our own.
  static bool same_origin(std::string_view origin, std::string_view host);

  // -------------------------------------------------------------------------------------------
  // Streamable HTTP

  asio::awaitable<bool> streamable(Conn& c, Request& req, const std::string& server,
                                   const std::string& endpoint);

  /// The session a non-initialize request names; else the reply that refuses it (400 without
  /// Mcp-Session-Id; 404 -32001 for one that is unknown, or another transport's, endpoint's
  /// or principal's).
  asio::awaitable<std::variant<SessionPtr, Response>> own_session(const Conn& c,
                                                                  const Request& req,
                                                                  const std::string& endpoint);

  /// The version MCP-Protocol-Version names (the assumed one when absent); else the 400 for a
  /// version mcpgw does not speak.
  std::variant<std::string, Response> request_version(const Request& req);

  /// A request's session and the protocol version it speaks.
  struct Named {
    SessionPtr session;
    std::string version;
  };
  /// Both, checked in that order; else the reply that refuses the request.
  asio::awaitable<std::variant<Named, Response>> session_and_version(const Conn& c,
                                                                    const Request& req,
                                                                    const std::string& endpoint);

  asio::awaitable<bool> streamable_post(Conn& c, Request& req, const std::string& server,
                                        const std::string& endpoint);

  asio::awaitable<bool> streamable_initialize(Conn& c, Request& req, json::object msg,
                                              const std::string& server,
                                              const std::string& endpoint, Accepts accepts);

  /// JSON-RPC batches (2025-03-26): each request answered, all in one JSON array.
  asio::awaitable<bool> streamable_batch(Conn& c, Request& req, json::array& batch,
                                         const std::string& endpoint, Accepts);

  /// Answers one POSTed request from its stream: plain JSON when the response is all there is
  /// (or the client takes nothing else), an SSE stream when notifications or server requests
  /// come first.
  asio::awaitable<bool> reply(Conn& c, Request& req, const SessionPtr& s,
                              const std::shared_ptr<EventStream>& out, Accepts accepts,
                              const std::string& version, bool initialize);

  asio::awaitable<bool> streamable_get(Conn& c, Request& req, const std::string& endpoint);

  // -------------------------------------------------------------------------------------------
  // The 2026-07-28 revision (stateless requests) on the same URLs

  /// A request of the stateless revision (its `_meta` names one), or server/discover, with no
  /// session header; a session's traffic is never one.
  static bool is_modern_request(const Request& req, const json::object& msg, jsonrpc::Kind kind);
  /// What a modern request's headers say, read in one pass over them.
  struct ModernHeaders {
    std::string_view version, method, name;  ///< MCP-Protocol-Version, Mcp-Method, Mcp-Name
    /// Authorization and every x-mcp-* header (the view, the headers passed to servers): the
    /// part of the hidden session's key that the headers give.
    std::string key;
    /// Mcp-Param-*: the name after the prefix, lowercase, and the value as sent.
    std::vector<std::pair<std::string, std::string>> params;
  };
  static ModernHeaders read_modern_headers(const Request& req);
  /// The 400/404 for a modern request the gateway will not serve: another revision (-32022),
  /// an incomplete `_meta` (-32602), mirrored headers that disagree with the body (-32020), a
  /// method the revision does not have here (404 -32601).
  std::optional<Response> modern_refusal(const Request& req, const ModernHeaders& h,
                                         const json::object& msg, jsonrpc::Kind kind);
  /// The caller's hidden session for modern requests on `endpoint` (made on first use, remade
  /// when it expired); else the refusal (unknown server, no session to spare).
  std::variant<SessionPtr, Response> modern_session(const Conn& c, const Request& req,
                                                    const ModernHeaders& h,
                                                    const std::string& server,
                                                    const std::string& endpoint,
                                                    json::object client_info,
                                                    const json::value& id);
  /// Waits for the first event of a reply, or for the client to go away (false).
  asio::awaitable<bool> first_event_or_close(Conn& c, EventStream& out);
  /// subscriptions/listen: an event stream of the changes the caller asked to hear, open
  /// until it leaves.
  asio::awaitable<bool> modern_listen(Conn& c, Request& req, SessionPtr s, json::object msg,
                                      json::value id, Accepts accepts);
  asio::awaitable<bool> modern_post(Conn& c, Request& req, json::object msg, jsonrpc::Kind kind,
                                    const std::string& server, const std::string& endpoint,
                                    Accepts accepts);

  asio::awaitable<bool> streamable_delete(Conn& c, Request& req, const std::string& endpoint);

  // -------------------------------------------------------------------------------------------
  // SSE writing

  asio::awaitable<bool> write_raw(Conn& c, std::string_view data);

  asio::awaitable<bool> write_chunk(Conn& c, std::string_view data, bool chunked);

  /// Watches the connection while a stream is open: ends with the client going away, or with
  /// bytes of a pipelined request (kept in the buffer for later).
  asio::awaitable<boost::system::error_code> probe(Conn& c);

  /// Writes `stream` as an SSE response from event `after` on. Returns whether the connection
  /// can carry another request.
  asio::awaitable<bool> write_sse(Conn& c, const Request& req, SessionPtr s,
                                  std::shared_ptr<EventStream> stream, std::uint64_t after,
                                  bool priming, std::string session_header, bool legacy,
                                  std::string prelude);
  /// The event stream's response head (chunked for HTTP/1.1); false when the client is gone.
  asio::awaitable<bool> write_sse_head(Conn& c, const Request& req,
                                       const std::string& session_header, bool chunked);
  /// Waits for the stream to have more (or for keepAliveMs, then writes a keep-alive
  /// comment), watching for the client going away; false once it has.
  asio::awaitable<bool> idle(Conn& c, EventStream& stream, relay::Session& s, bool chunked);

  // -------------------------------------------------------------------------------------------
  // The LiteLLM-compatible REST surface: the same auth, permissions and audit as MCP, through
  // one internal session per caller.

  /// The caller's REST session in a taint scope (made, and initialized, on first use; remade
  /// if it expired). A REST call in scope S shares S's taint with MCP sessions in S.
  asio::awaitable<SessionPtr> rest_session(const access::PrincipalPtr& who,
                                           const std::string& scope);

  /// The REST surface's reply (GET /v1/mcp/server, GET /mcp-rest/tools/list, POST
  /// /mcp-rest/tools/call), for the connection's principal and scope.
  asio::awaitable<Response> rest(const Conn& c, const Request& req, const std::string& path,
                                 const std::string& server_id);
  /// GET /v1/mcp/server: the servers the caller may use, with their state.
  json::array rest_servers(const access::PrincipalPtr& who);
  /// GET /mcp-rest/tools/list, /v1/mcp/tools: the tools the caller may use.
  asio::awaitable<Response> rest_tools(const Request& req, const SessionPtr& s,
                                       const std::string& server_id,
                                       const std::string& request_id);
  /// POST /mcp-rest/tools/call.
  asio::awaitable<Response> rest_call(const Request& req, const SessionPtr& s,
                                      const std::string& server_id,
                                      const std::string& request_id);

  asio::awaitable<bool> legacy_stream(Conn& c, Request& req, const std::string& server,
                                      const std::string& endpoint);

  asio::awaitable<bool> legacy_post(Conn& c, Request& req, const std::string& sid);

  asio::io_context& ioc_;
  relay::Relay& relay_;
  access::Authenticator& auth_;
  std::shared_ptr<upstream::JwksFetcher> jwks_;  ///< auth mode jwt with a JWKS URL
  /// By key name ("" without auth) and scope; closed ones are dropped as new ones are made.
  std::unordered_map<std::string, SessionPtr> rest_sessions_;
  /// Hidden sessions of modern (2026-07-28) callers, by endpoint, caller, view, scope and the
  /// credentials passed on; closed ones are dropped as new ones are made.
  std::unordered_map<std::string, SessionPtr> modern_sessions_;
  std::int64_t next_modern_id_ = 1;  ///< the ids modern requests travel under
  const config::GatewayConfig& gw_;
  tcp::acceptor acceptor_;
  tcp::acceptor metrics_acceptor_;
  std::vector<std::string> allowed_hosts_;
  HttpServer::Reload reload_;  ///< POST /admin/reload; empty: none
  std::string settings_admin_token_;  ///< the admin token while the gate is off
  std::vector<std::string> metrics_hosts_;  ///< the Host names the metrics listener takes
  std::array<std::uint64_t, 600> responses_{};  ///< responses by HTTP status
  std::array<std::size_t, 2> sse_streams_{};    ///< open SSE responses: streamable, legacy
  const double started_unix_ = static_cast<double>(unix_ms()) / 1000.0;
  const std::string request_id_prefix_ = random_hex(3);
  std::uint64_t request_seq_ = 0;
  std::set<beast::tcp_stream*> connections_;
  Admission admission_{gw_.limits};
  std::shared_ptr<void> alive_ = std::make_shared<int>(0);  ///< expires with the server
  std::size_t trim_mark_ = 0;  ///< connections at the last heap trim, or the peak since then
  const std::size_t memory_budget_ = budget_of(gw_.limits);
  bool shedding_ = false;  ///< over the memory budget: new requests get 503
  bool stopping_ = false;
  bool started_ = false;  ///< start() ran: a JWKS fetcher made later starts at once
};

}  // namespace mcpgw::downstream
