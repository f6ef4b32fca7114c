#pragma once
// The relay: many servers behind one MCP endpoint. It answers initialize and ping itself,
// aggregates lists with prefixed names, routes calls to the right server, and carries
// notifications and server→client requests to the session that caused them.
#include "config/config.hpp"
#include "mcp/naming.hpp"
#include "relay/session.hpp"
#include "access/audit.hpp"
#include "upstream/backend.hpp"
#include "upstream/http_client.hpp"
#include "upstream/rpc_backend.hpp"

#include <boost/system/result.hpp>

#include <optional>

namespace mcpgw::relay {

class Relay;

/// One list a server serves, cached until the server says it changed.
struct ListCache {
  std::shared_ptr<const json::array> items;
  std::shared_ptr<Event> fetching;  ///< set when the running fetch ends
  bool served_partial = false;      ///< an aggregate went out without this server's items
};

enum class ListKind { tools, prompts, resources, templates };

/// A server as the relay holds it: the backend, its list caches, what is in flight on it.
struct BackendSlot final : upstream::BackendListener {
  BackendSlot(Relay& relay, const config::ServerConfig& cfg, Session* owner);
  ~BackendSlot() override;

  Relay& relay;
  const config::ServerConfig& cfg;
  Session* owner;  ///< the session of an isolated backend; null when shared
  upstream::BackendPtr backend;
  ListCache lists[4];
  std::vector<InFlight*> inflight;               ///< oldest first
  std::map<std::string, int> subscriptions;      ///< server URI → subscribed sessions
  struct ServerRequestRoute {
    std::weak_ptr<Session> session;
    json::value client_id;
  };
  std::unordered_map<std::string, ServerRequestRoute> server_requests;  ///< by backend id_key
  bool ever_ready = false;

  ListCache& cache(ListKind k) noexcept { return lists[static_cast<int>(k)]; }

  // mcpgw::upstream::BackendListener
  void on_backend_message(upstream::Backend& backend, json::object&& msg) override;
  void on_backend_state(upstream::Backend& backend, upstream::BackendState state) override;
};

class Relay {
 public:
  Relay(asio::any_io_executor ex, const config::Config& cfg);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  const config::Config& config() const noexcept { return cfg_; }
  asio::any_io_executor executor() const noexcept { return ex_; }

  /// Starts the shared backends and the idle-session reaper.
  void start();
  /// Closes every session and stops every backend.
  asio::awaitable<void> stop();

  // Sessions.
  /// `owner` (a principal's name, or the client's address without auth) is counted against
  /// limits.maxSessionsPerClient; empty for the gateway's own sessions.
  boost::system::result<SessionPtr> create_session(ClientTransport transport,
                                                    std::vector<std::string> view,
                                                    bool single_server, std::string endpoint,
                                                    std::string owner = {});
  SessionPtr find_session(std::string_view id) const;
  void close_session(const SessionPtr& session, std::string_view why);
  std::size_t session_count() const noexcept { return sessions_.size(); }

  /// The servers a client sees: one for a per-server endpoint (`path_server`), else every
  /// server narrowed by an `x-mcp-servers` list. nullopt (with `error`) for unknown names.
  /// `principal` (null when auth is off) narrows further: its servers only; a server it may
  /// not use is reported exactly as an unknown one.
  std::optional<std::vector<std::string>> resolve_view(std::string_view path_server,
                                                       std::string_view servers_header,
                                                       const access::Principal* principal,
                                                       std::string& error) const;

  // Messages from a client. A request's response is pushed to `out` as its final message.
  asio::awaitable<void> handle_request(SessionPtr session, json::object request,
                                       std::shared_ptr<EventStream> out);
  void handle_notification(const SessionPtr& session, json::object msg);
  void handle_response(const SessionPtr& session, json::object msg);

  /// Where audit rows go (null: no audit trail).
  void set_audit(access::AuditLog* log) noexcept { audit_ = log; }
  /// The security gate (null when gateway.security is off).
  void set_gate(gate::Gate* g) noexcept { gate_ = g; }
  gate::Gate* gate() const noexcept { return gate_; }
  /// Tells every session that sees `server` that its tools changed (after an administrator
  /// released a quarantined tool).
  void tools_changed(std::string_view server);
  access::AuditLog* audit_log() const noexcept { return audit_; }

  /// Whether any server receives the client's Authorization header (sessions then keep it).
  bool forwards_authorization() const noexcept;

  /// Requests forwarded to servers and not yet answered (for draining).
  std::size_t in_flight() const noexcept;
  /// Gateway and per-server state, as served on /healthz.
  json::object health() const;

  // From BackendSlot.
  void on_backend_message(BackendSlot& slot, json::object&& msg);
  void on_backend_state(BackendSlot& slot, upstream::BackendState state);

 private:
  /// One audit row in the making: started when a request is routed, written when answered.
  class AuditScope {
   public:
    AuditScope(Relay& relay, const Session& s, std::string_view method, std::string_view target,
               const json::object& params, const char* args_key);
    /// Writes the row for `reply`; `denied` (non-empty) is why access control refused it.
    void done(const json::object& reply, std::string denied = {});
    std::string gate;  ///< the security gate's decisions, kept in the row's detail
    std::string server;

   private:
    Relay& relay_;
    Clock::time_point started_;
    std::optional<access::AuditRecord> row_;
  };

  struct Route {
    BackendSlot* slot;
    std::string name;  ///< as the server knows it
  };

  asio::awaitable<json::object> dispatch(SessionPtr s, json::object& req,
                                         std::shared_ptr<EventStream> out);
  asio::awaitable<json::object> initialize(SessionPtr s, json::object& req);
  asio::awaitable<json::object> list(SessionPtr s, ListKind kind, const json::value& id);
  /// `keep` holds the session that owns an isolated `slot` alive while the fetch runs.
  asio::awaitable<std::shared_ptr<const json::array>> fetch_list(BackendSlot& slot, ListKind kind,
                                                                 std::shared_ptr<Session> keep);
  asio::awaitable<json::object> forward(SessionPtr s, BackendSlot& slot, json::object req,
                                        std::shared_ptr<EventStream> out);
  /// forward() through the security gate when it is on: the chain's request side (which may
  /// deny, or hold the call for an approval), then the server, then the result side.
  /// `decisions` gets what the chain decided, for the audit row.
  asio::awaitable<json::object> gated_forward(SessionPtr s, BackendSlot& slot, json::object req,
                                              std::shared_ptr<EventStream> out,
                                              std::string_view method, const std::string& name,
                                              std::string& decisions);
  /// Sends a request of the gateway's own to the client and waits for its answer (nullopt:
  /// none before `deadline`, or the session closed).
  asio::awaitable<std::optional<json::object>> ask_client(SessionPtr s,
                                                          std::shared_ptr<EventStream> out,
                                                          std::string_view method,
                                                          json::object params,
                                                          Clock::time_point deadline);
  asio::awaitable<json::object> set_level(SessionPtr s, json::object& req);
  asio::awaitable<json::object> subscribe(SessionPtr s, json::object& req, bool on,
                                          std::shared_ptr<EventStream> out);
  asio::awaitable<void> reap_idle();
  /// The session's filter chain, made on first use (the gate must be on).
  gate::Chain& chain_of(Session& s);

  BackendSlot* slot_for(Session& s, std::string_view server);
  upstream::BackendPtr make_backend(const config::ServerConfig& server,
                                    upstream::ClientIdentity identity, BackendSlot& slot);
  std::optional<Route> route_name(Session& s, std::string_view exposed);
  /// Whether the session's principal may use this tool (by its exposed name).
  bool tool_allowed(const Session& s, std::string_view server, std::string_view name);
  std::optional<Route> route_uri(Session& s, std::string_view uri);
  /// The slot for a resolved name, if the session may see its server.
  std::optional<Route> route(Session& s, std::optional<mcp::Target> target);
  void expose_uris(json::value& result, std::string_view method, std::string_view server) const;

  struct Target {
    SessionPtr session;
    std::shared_ptr<EventStream> out;
  };
  std::optional<Target> attribute(BackendSlot& slot, bool& ambiguous);
  void deliver(Session& s, const std::shared_ptr<EventStream>& preferred, const json::object& msg);
  void notify_sessions(BackendSlot& slot, std::string_view method);
  void forward_server_request(BackendSlot& slot, json::object&& msg);
  template <class F>
  void for_each_session_of(BackendSlot& slot, F&& f);

  asio::any_io_executor ex_;
  const config::Config& cfg_;
  mcp::Naming naming_;
  std::map<std::string, std::unique_ptr<BackendSlot>> shared_;
  std::unordered_map<std::string, SessionPtr> sessions_;
  std::unordered_map<std::string, std::size_t> sessions_per_owner_;
  struct ProgressRoute {
    std::weak_ptr<Session> session;
    json::value client_token;
    std::weak_ptr<EventStream> out;
  };
  std::unordered_map<std::int64_t, ProgressRoute> progress_;
  std::int64_t next_progress_token_ = 1;
  std::uint64_t next_inflight_order_ = 1;
  std::size_t inflight_count_ = 0;
  bool stopping_ = false;
  access::AuditLog* audit_ = nullptr;
  gate::Gate* gate_ = nullptr;
  std::set<std::string> warned_shortened_;
  /// Connection pools to remote servers, one per server, shared by its upstream sessions.
  std::map<std::string, std::shared_ptr<upstream::HttpClient>> http_clients_;
  /// Each server's latest state and reason, whichever of its backends reported it.
  struct ServerStatus {
    upstream::BackendState state = upstream::BackendState::stopped;
    std::string reason;
    Clock::time_point since{};
  };
  std::map<std::string, ServerStatus, std::less<>> status_;
};

}  // namespace mcpgw::relay
