#pragma once
// The relay: many servers behind one MCP endpoint. It answers initialize and ping itself,
// aggregates lists with prefixed names, routes calls to the right server, and carries
// notifications and server→client requests to the session that caused them.
#include "config/config.hpp"
#include "mcp/naming.hpp"
#include "relay/exchange.hpp"
#include "relay/session.hpp"
#include "access/audit.hpp"
#include "access/vault.hpp"
#include "common/sealer.hpp"
#include "gate/shared_approvals.hpp"
#include "gate/shared_scopes.hpp"
#include "upstream/backend.hpp"
#include "upstream/probes.hpp"
#include "upstream/server_pool.hpp"
#include "upstream/server_slot.hpp"

#include <boost/system/result.hpp>

#include <deque>
#include <functional>
#include <optional>
#include <unordered_set>
#include <variant>

namespace mcpgw::relay {

class Relay;
class SharedRates;
class SharedEvents;

using upstream::ListCache;
using upstream::ListKind;

/// A server's backend as the relay holds it: the slot (backend, list caches, subscription
/// counts), the session that owns it when isolated, and what is in flight on it.
struct BackendSlot final : upstream::ServerSlot,
                           upstream::BackendListener,
                           std::enable_shared_from_this<BackendSlot> {
  BackendSlot(Relay& relay, std::shared_ptr<const config::ServerConfig> cfg, Session* owner);
  ~BackendSlot() override;

  Relay& relay;
  Session* owner;  ///< the session of an isolated backend; null when shared
  std::vector<InFlight*> inflight;  ///< oldest first
  struct ServerRequestRoute {
    std::weak_ptr<Session> session;
    json::value client_id;
  };
  std::unordered_map<std::string, ServerRequestRoute> server_requests;  ///< by backend id_key

  // mcpgw::upstream::BackendListener
  void on_backend_message(upstream::Backend& backend, json::object&& msg) override;
  void on_backend_state(upstream::Backend& backend, upstream::BackendState state) override;
};

/// A slot as held across a suspension: a reload may retire it from the relay meanwhile.
using SlotPtr = std::shared_ptr<BackendSlot>;

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

  /// What a reload changed among the servers (by name).
  struct ServerChanges {
    std::vector<std::string> added, removed, restarted, relabelled;
  };
  /// The configuration given to the constructor was changed in place (`previous`: the servers
  /// it had): added servers start; removed ones and changed ones (anything but their trust
  /// labels) drain and stop, and changed ones start again; relabelled ones keep their backend
  /// and get their new labels. Sessions' views follow (the aggregate endpoint's take in new
  /// servers), and their clients are told that their lists changed (reload.cpp).
  ServerChanges reconfigure(const std::vector<config::ServerConfig>& previous);
  /// Closes every session and stops every backend.
  asio::awaitable<void> stop();

  // Sessions.
  /// Opens a session. `spec.owner` (a principal's name, or the client's address without
  /// auth) is counted against limits.maxSessionsPerClient; empty for the gateway's own.
  boost::system::result<SessionPtr> create_session(SessionSpec spec);
  /// Makes `s` a session of the stateless revision (2026-07-28): no initialize exchange; its
  /// requests name the revision themselves. Server log messages reach it only on a request
  /// that names a level (its stream's log rank); changes only on its listen streams.
  void adopt_modern(Session& s, json::object client_info);
  SessionPtr find_session(std::string_view id) const;
  /// gateway.cluster: session ids are sealed with `keys` (session_seal.hpp) and name
  /// `replica`; null keys: random ids, known to this replica alone.
  void use_session_keys(std::shared_ptr<const Sealer> keys, std::string replica);
  bool seals_sessions() const noexcept { return session_keys_ != nullptr; }
  /// gateway.cluster.redis: taint scopes and held approvals shared by the replicas (null:
  /// this replica's own).
  /// `redis` also remembers the sessions clients ended (DELETE), for every replica; `rates`
  /// holds API keys' rate-limit buckets.
  void use_shared_state(std::shared_ptr<gate::SharedScopes> scopes,
                        std::shared_ptr<gate::SharedApprovals> approvals,
                        std::shared_ptr<upstream::Redis> redis,
                        std::shared_ptr<SharedRates> rates) {
    shared_scopes_ = std::move(scopes);
    shared_approvals_ = std::move(approvals);
    shared_redis_ = std::move(redis);
    shared_rates_ = std::move(rates);
    share_events();
    set_gate(gate_);
  }
  /// A client that lost an SSE stream of replica `replica` and asks this one to resume it
  /// (Last-Event-ID naming that replica): the stream to write, with what it already saw.
  /// The copy in Redis is replayed and, for a reply stream, followed until its response;
  /// another replica's standalone stream continues on this one's. nullopt when the stream is
  /// this replica's own, or not found.
  struct Resumed {
    std::shared_ptr<EventStream> stream;
    std::uint64_t after = 0;
  };
  /// This replica's name in a cluster ("" without one).
  const std::string& replica() const noexcept { return replica_; }
  asio::awaitable<std::optional<Resumed>> resume_elsewhere(SessionPtr s, std::string replica,
                                                           std::uint64_t number,
                                                           std::uint64_t seq);
  /// API keys' rate limits shared by the replicas; null: each replica counts its own.
  const std::shared_ptr<SharedRates>& shared_rates() const noexcept { return shared_rates_; }
  const std::shared_ptr<gate::SharedApprovals>& shared_approvals() const noexcept {
    return shared_approvals_;
  }
  /// A session this replica does not hold, made again from its sealed id: one opened by
  /// another replica (or by this one before a restart). `current` is what the request that
  /// names it would open a session with (its principal, headers, endpoint); the principal and
  /// endpoint must be the session's own. Refused with session_not_found, and `refusal` says
  /// why when the id is sound but only its replica can serve it (a legacy SSE session, or one
  /// with servers of its own).
  boost::system::result<SessionPtr> revive_session(std::string_view id, SessionSpec current,
                                                   std::string& refusal);
  /// Whether the client of session `id` ended it (DELETE) through this replica or, with
  /// gateway.cluster.redis, through any; a sealed session that did is not made again. When
  /// Redis cannot say: ended, unless gateway.cluster.whenRedisDown is "local".
  asio::awaitable<bool> session_ended(std::string_view id);
  /// False when `s`, held here, was ended through another replica (it is then closed here
  /// too). Asked at most once a second per session, and only with gateway.cluster.redis.
  asio::awaitable<bool> still_open(SessionPtr s);
  void close_session(const SessionPtr& session, std::string_view why);
  /// Its client ended it (DELETE): closed, and a sealed id is not made again (here, and with
  /// gateway.cluster.redis on any replica).
  asio::awaitable<void> end_session(SessionPtr session);
  std::size_t session_count() const noexcept { return sessions_.size(); }
  /// Open sessions by how their client came: Streamable HTTP, legacy SSE, and the hidden
  /// sessions of stateless (2026-07-28) callers.
  struct SessionCounts {
    std::size_t streamable_http = 0, legacy_sse = 0, stateless = 0;
  };
  SessionCounts session_counts() const;

  /// The servers a client sees: one for a per-server endpoint (`path_server`), else every
  /// server narrowed by an `x-mcp-servers` list. nullopt (with `error`) for unknown names.
  /// `principal` (null when auth is off) narrows further: its servers only; a server it may
  /// not use is reported exactly as an unknown one.
  std::optional<std::vector<std::string>> resolve_view(std::string_view path_server,
                                                       std::string_view servers_header,
                                                       const access::Principal* principal,
                                                       std::string& error) const;

  // Messages from a client. A request's response is pushed to `out` as its final message.
  // `client_id`, when not null, is the id the client gave: the request travels under an id of
  // the gateway's (stateless requests of many clients share a hidden session, where their ids
  // may collide) and the reply carries the client's.
  asio::awaitable<void> handle_request(SessionPtr session, json::object request,
                                       std::shared_ptr<EventStream> out, json::value client_id,
                                       StatelessIntake intake);
  /// A session's request. (Not a coroutine: g++ 12 mishandles a coroutine's defaulted
  /// parameters of class type, destroying what was never made.)
  asio::awaitable<void> handle_request(SessionPtr session, json::object request,
                                       std::shared_ptr<EventStream> out) {
    return handle_request(std::move(session), std::move(request), std::move(out), nullptr,
                          StatelessIntake{});
  }
  /// …that came with this HTTP request id (and W3C traceparent header, if any).
  asio::awaitable<void> handle_request(SessionPtr session, json::object request,
                                       std::shared_ptr<EventStream> out,
                                       std::string request_id, std::string traceparent) {
    StatelessIntake intake;
    intake.request_id = std::move(request_id);
    intake.traceparent = std::move(traceparent);
    return handle_request(std::move(session), std::move(request), std::move(out), nullptr,
                          std::move(intake));
  }
  /// subscriptions/listen (2026-07-28): what `request` asks to hear (list changes, updates
  /// of resources, subscribed at their servers as needed) goes to `out`, each notification
  /// tagged with `client_id`; the acknowledgement first. Nullopt when listening; else the
  /// error to answer with.
  asio::awaitable<std::optional<json::object>> listen(SessionPtr session, json::object request,
                                                      std::shared_ptr<EventStream> out,
                                                      json::value client_id);
  /// The listen on `out` ended (its client left): resources no other listen of the session
  /// wants are unsubscribed.
  asio::awaitable<void> unlisten(SessionPtr session, std::shared_ptr<EventStream> out);
  /// The same for the gateway's own surfaces (REST): the reply as an object, with nothing
  /// pushed to a stream (and so nothing serialized and parsed again).
  asio::awaitable<json::object> call(SessionPtr session, json::object request,
                                     std::string request_id);
  void handle_notification(const SessionPtr& session, json::object msg);
  void handle_response(const SessionPtr& session, json::object msg);
  /// A stateless client's retry of a request that needed its input (2026-07-28 MRTR): checks
  /// the sealed requestState (this caller's, unexpired, unused, the same method and target),
  /// passes the answers in inputResponses to whoever asked, and continues the request on
  /// `out` with the client's `client_id`. Returns the id the request travels under (to cancel
  /// it), or why the retry is refused (-32602).
  /// A stateless client's retry of a round its server asked for (the server's questions were
  /// passed on): nullopt when `retry`'s requestState is not such a round's; else why the
  /// retry is refused, or empty when `retry` now carries the server's own requestState and
  /// goes on as a request (handle_request, `intake.continues`).
  /// `server` is set to the server the round's state belongs to (intake.continues_at).
  std::optional<std::string> open_passed(const Session& s, json::object& retry,
                                         std::string& server) const;
  std::variant<json::value, std::string> resume(const SessionPtr& session,
                                                const json::object& retry,
                                                std::shared_ptr<EventStream> out,
                                                json::value client_id);

  /// Makes a server's backend. The default picks the transport from the server's config;
  /// tests give their own.
  void set_backend_factory(upstream::ServerPool::Factory f) { pool_.set_factory(std::move(f)); }

  /// Where audit rows go (null: no audit trail).
  void set_audit(access::AuditLog* log) noexcept { audit_ = log; }
  /// The users' own secrets, for servers whose env reads `${user:NAME}` (null: no vault).
  void set_vault(std::shared_ptr<access::VaultReader> vault) {
    vault_ = vault;
    pool_.set_vault(std::move(vault));
  }
  bool has_vault() const noexcept { return vault_ != nullptr; }
  const std::shared_ptr<access::VaultReader>& vault() const noexcept { return vault_; }
  /// The gateway's URL as users' browsers reach it (gateway.publicUrl, else the address it
  /// listens on), for the links of the OAuth consent flow.
  void set_public_url(std::string url) { pool_.set_public_url(std::move(url)); }
  const std::string& public_url() const noexcept { return pool_.public_url(); }
  /// The OAuth client of server `name` (auth "oauth"), or null.
  std::shared_ptr<upstream::OAuthClient> oauth_client(std::string_view name);
  /// The security gate (null when gateway.security is off).
  void set_gate(gate::Gate* g) {
    gate_ = g;
    if (g != nullptr) {
      g->share_approvals(shared_approvals_);
      g->on_pins_changed([this](const std::string& server) { pins_changed(server); });
    }
  }
  gate::Gate* gate() const noexcept { return gate_; }
  /// Tells every session that sees `server` that its tools changed (after an administrator
  /// released a quarantined tool).
  void tools_changed(std::string_view server);
  /// Another replica quarantined or approved a tool of `server`: the lists of it held here are
  /// forgotten, so its tools are listed (and screened) again before the next call, and the
  /// sessions that see it are told.
  void pins_changed(std::string_view server);
  access::AuditLog* audit_log() const noexcept { return audit_; }

  /// Whether any server receives or exchanges the client's Authorization (sessions keep it).
  bool keeps_authorization() const noexcept { return keeps_authorization_; }
  /// A request of `s` authenticated with `authorization`: a renewed access token replaces the
  /// one its exchanged credentials start from.
  void saw_authorization(Session& s, std::string_view authorization) const;

  /// Requests forwarded to servers and not yet answered (for draining).
  std::size_t in_flight() const noexcept;
  /// Gateway and per-server state, as served on /healthz.
  json::object health() const;
  /// The live sessions (the dashboard's table): who, how, which servers, taint, activity.
  json::array sessions_detail() const;
  /// The tools a shared server listed last (its own names), empty when not fetched yet or
  /// when each session has its own instance.
  std::vector<std::string> tool_names(const std::string& server) const;
  /// Whether each server can serve, as served on /readyz; `ready` when at least one can.
  json::object readiness(bool& ready) const;

  // From BackendSlot.
  void on_backend_message(BackendSlot& slot, json::object&& msg);
  void on_backend_state(BackendSlot& slot, upstream::BackendState state);

 private:
  /// How the access stage finds where a method goes (local: the gateway answers it).
  enum class Routing { local, tool, prompt, resource, completion, server };
  /// A handler: answers the exchange (sets its reply).
  using Handler = asio::awaitable<void> (*)(Relay&, Exchange&);
  /// One row of the method table.
  struct Method {
    std::string_view name;
    Routing routing;
    const char* args_key;  ///< the params member the audit row digests (null: none)
    Handler handler;
  };
  /// The method table; unknown methods on a per-server endpoint get `passthrough()`.
  static const Method* find_method(std::string_view name);
  static const Method& passthrough();

  struct Route {
    SlotPtr slot;
    std::string name;  ///< as the server knows it
  };

  /// The stages every client request crosses: method table → audit (routed methods; the row
  /// is written with the reply) → access → security gate → handler.
  asio::awaitable<void> run(Exchange& ex);
  /// run(), with a stray exception answered as -32603, and the outcome classified.
  asio::awaitable<void> run_guarded(Exchange& ex);
  // Access: where the exchange goes and whether its principal may use it there (false: the
  // reply is set).
  asio::awaitable<bool> admit(Exchange& ex, Routing routing);
  asio::awaitable<bool> admit_tool(Exchange& ex);
  bool admit_named(Exchange& ex, Routing routing);
  bool admit_completion(Exchange& ex);
  bool admit_server(Exchange& ex);
  /// Tells the exchange where it goes.
  static void routed(Exchange& ex, Route route);
  // Audit: opened before access, written once the reply is serialized (`bytes_out`). False
  // (the exchange failed) when the trail is saturated: its store does not take rows.
  bool open_audit(Exchange& ex, const char* args_key);
  void close_audit(Exchange& ex, std::size_t bytes_out, std::chrono::microseconds elapsed);
  /// The exchange has its reply: counted (metrics_stage.cpp), and its audit row written.
  void complete(Exchange& ex, std::size_t bytes_out);
  /// Requests, tool calls and latency by method, server and outcome.
  static void observe(const Exchange& ex, std::chrono::microseconds elapsed);
  /// The exchange's access line (common/log), when access lines are on.
  static void log_access(const Exchange& ex, std::size_t bytes_out,
                         std::chrono::microseconds elapsed);
  // Tracing (trace_stage.cpp): the exchange's span starts with it (its parent from
  // params._meta.traceparent or the traceparent header) and is recorded as it completes.
  static void start_trace(Exchange& ex);
  static void end_trace(const Exchange& ex);
  /// A call to a server: the context it carries (`_meta.traceparent`, and a traceparent
  /// header for HTTP servers), and its client span while sampled.
  static std::optional<trace::Span> trace_upstream(const Exchange& ex, json::object& req,
                                                   std::vector<std::pair<std::string,
                                                                         std::string>>& headers);
  static void end_upstream(std::optional<trace::Span> span, const upstream::Call& call,
                           bool answered);
  /// The method as a metric label: one the gateway knows, else "other".
  static std::string_view method_label(std::string_view method);
  // The security gate, when on: its request side (which may deny, or hold the call for an
  // approval), then the handler, then its result side.
  asio::awaitable<void> through_gate(Exchange& ex, Handler handler);
  gate::Call gate_call(Exchange& ex, gate::Chain& chain,
                       const std::shared_ptr<const json::array>& tools);
  gate::Outcome passed_answers(Exchange& ex, gate::Chain& chain);
  class GateLink;  // how the gate reaches the client of a call waiting for an approval
  // The gate on a server's other channels (relay/gate_channel.cpp): its notifications and
  // requests to a client (false: refused, not delivered), and the client's answers to them
  // (false: the server got the refusal instead).
  bool gate_server_message(Session& s, BackendSlot& slot, json::object& msg);
  bool gate_answer(Session& s, BackendSlot& slot, std::string_view method, json::object& reply,
                   const json::value& backend_id);
  gate::Call channel_call(Session& s, BackendSlot& slot, std::string_view method);
  /// The same for a question a server of the stateless revision put in its result, which the
  /// gateway asks the client (`ask_for`), and for the client's answer (`answer` true): the
  /// refusal that ends the call, or nothing.
  std::optional<json::object> gate_mid_call(Exchange& ex, std::string_view method,
                                            json::object& msg, bool answer);

  // Handlers.
  asio::awaitable<void> initialize(Exchange& ex);
  /// server/discover (2026-07-28): the revisions, capabilities and identity, without a
  /// handshake.
  asio::awaitable<void> discover(Exchange& ex);
  /// The slots of the session's view, once each (that is not down) is ready or the list
  /// deadline passed: what initialize and discover describe.
  asio::awaitable<std::vector<SlotPtr>> ready_view(const SessionPtr& s);
  asio::awaitable<void> list(Exchange& ex, ListKind kind);
  /// Each server's list (cached, or fetched side by side until timeouts.listMs); null where
  /// a server gave none in time. `slots` gets the session's servers, in view order.
  asio::awaitable<std::vector<std::shared_ptr<const json::array>>> gather_lists(
      SessionPtr s, const std::vector<std::string>& view, ListKind kind,
      std::vector<SlotPtr>& slots);
  /// Adds what the session may see of one server's list, names and URIs exposed.
  void add_list_items(Session& s, ListKind kind, const std::string& server,
                      const std::shared_ptr<const json::array>& part, json::array& items);
  /// Tells the log and the client which servers a list went out without.
  void report_left_out(Session& s, ListKind kind, const std::vector<std::string>& view,
                       const std::vector<SlotPtr>& slots,
                       const std::vector<std::size_t>& left_out);
  asio::awaitable<void> set_level(Exchange& ex);
  asio::awaitable<void> subscribe(Exchange& ex);
  static asio::awaitable<void> relay_to_server(Relay& r, Exchange& ex);
  /// Sends the exchange's request to its server and returns the server's reply (its id the
  /// client's, its URIs exposed); sets the outcome when the server did not answer in time.
  asio::awaitable<json::object> forward(Exchange& ex);
  /// The error for a server that is not ready (after waiting, bounded, for one that is
  /// starting); nullopt when it is ready.
  asio::awaitable<std::optional<json::object>> not_ready(Exchange& ex, Clock::time_point deadline);
  /// The reply to a forwarded call that failed (timed out, or no credential could be had).
  json::object failed(Exchange& ex, const upstream::Call& call, const upstream::Backend& backend,
                      std::chrono::milliseconds timeout);
  /// The -32021 error for a stateless request whose server needed `capability` of it.
  static json::object missing_capability(const Exchange& ex, const std::string& capability);
  /// Toward a server of the stateless revision: the log level the request's client wants.
  static void ask_for_logs(const Exchange& ex, json::object& req);
  /// Replaces the client's progress token in `req` by one of the gateway's (if it gave one).
  std::optional<std::int64_t> gateway_progress_token(Exchange& ex, json::object& req);
  /// The in-flight record of a forwarded request (for cancellation and attribution).
  std::shared_ptr<InFlight> track(Exchange& ex);
  void untrack(Exchange& ex, const std::shared_ptr<InFlight>& inflight);

  /// `keep` holds the session that owns an isolated `slot` alive while the fetch runs.
  asio::awaitable<std::shared_ptr<const json::array>> fetch_list(BackendSlot& slot, ListKind kind,
                                                                 std::shared_ptr<Session> keep);
  /// Sends a request of the gateway's own to the client and waits for its answer (nullopt:
  /// none before `deadline`, or the session closed).
  asio::awaitable<std::optional<json::object>> ask_client(SessionPtr s,
                                                          std::shared_ptr<EventStream> out,
                                                          std::string_view method,
                                                          json::object params,
                                                          Clock::time_point deadline);
  asio::awaitable<void> reap_idle();
  /// Starts a server's shared backend (none for isolation "session").
  void start_shared(const std::shared_ptr<const config::ServerConfig>& server);
  /// Starts probing the current servers (stopping the probes of the previous ones).
  void start_probes();
  // Reload (reload.cpp).
  /// Compares `previous` with the current servers, and takes in the current ones.
  ServerChanges diff_servers(const std::vector<config::ServerConfig>& previous);
  /// Takes a server's backends (shared, and each session's own) out of service.
  void retire(const std::string& server);
  /// Stops a retired slot's backend once its calls ended (or timeouts.drainMs passed).
  void drain_and_stop(SlotPtr slot, SessionPtr owner);
  /// Gives a server's slots its current configuration (new trust labels).
  void relabel(const std::string& server);
  /// Session views follow the servers; clients whose servers changed hear it.
  void refresh_sessions(const std::set<std::string>& changed);
  /// The session's filter chain, made on first use (the gate must be on).
  gate::Chain& chain_of(Session& s);

  BackendSlot* slot_for(Session& s, std::string_view server);
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
    InFlight* inflight = nullptr;  ///< the request it is about (the newest), if any
  };
  std::optional<Target> attribute(BackendSlot& slot, bool& ambiguous);
  /// A request to the client: on `out` (older revisions), or as a question of the round `out`
  /// belongs to (2026-07-28). False when a stateless caller has no request there to carry it.
  bool deliver_request(Session& s, const std::shared_ptr<EventStream>& out,
                       const json::object& request);
  // MRTR (input_required.cpp).
  /// Whether a request may be asked something of its client in rounds (a stateless
  /// tools/call, prompts/get or resources/read).
  bool can_ask(const Exchange& ex) const;
  /// Opens the rounds of such a request, when its first question comes.
  std::shared_ptr<Rounds> open_rounds(Exchange& ex);
  /// Ends the current round with the questions not answered yet.
  void end_round(Session& s, const std::string& key, Rounds& r);
  /// A server of the stateless revision answered `input_required`: each question goes to the
  /// client (a real request on its session, or a round of its own), and the request is sent
  /// again with the answers and the server's requestState, until the server completes it.
  asio::awaitable<json::object> fulfil_input(Exchange& ex, const json::object& original,
                                             json::object response, InFlight& inflight,
                                             Clock::time_point deadline,
                                             std::vector<std::pair<std::string, std::string>>
                                                 headers);
  /// resources/subscribe (or unsubscribe) at a server of 2026-07-28: its listen's
  /// resourceSubscriptions instead. False for a server that takes resources/subscribe.
  bool subscribe_by_listen(Exchange& ex, const std::string& server_uri, bool on);
  /// A request to a server of 2026-07-28 gets the revision's envelope: what its client can
  /// answer, the gateway as the client, the log level asked for.
  void put_modern_envelope(const Exchange& ex, json::object& req);
  /// The Mcp-Param-* headers of a tools/call to a server of 2026-07-28 (`modern`), from the
  /// tool's x-mcp-header parameters; none for other requests and servers.
  asio::awaitable<std::vector<std::pair<std::string, std::string>>> param_headers(
      Exchange& ex, const json::object& req, bool modern);
  /// A server of the stateless revision asked a stateless client (passed_rounds.cpp): its
  /// questions go out as they are, its requestState sealed in the gateway's.
  json::object pass_input_required(Exchange& ex, const json::object& request,
                                   json::object response);
  /// One question of a server to the client: its answer (a result), or the error reply that
  /// ends the call.
  asio::awaitable<std::variant<json::value, json::object>> ask_for(Exchange& ex,
                                                                   const json::value& question,
                                                                   Clock::time_point deadline);
  /// A retry's checks (requestState, method, target, inputResponses); the rounds it
  /// continues, or why not.
  std::variant<std::shared_ptr<Rounds>, std::string> check_retry(Session& s,
                                                                  const json::object& retry);
  void deliver(Session& s, const std::shared_ptr<EventStream>& preferred, const json::object& msg);
  void notify_sessions(BackendSlot& slot, std::string_view method);
  /// Ends a closing session's listen streams gracefully (their result, then the end).
  void end_listens(Session& s);
  /// A change notification to a stateless caller's listen streams that asked for it.
  void publish(Session& s, const json::object& msg);
  /// One listen's resource subscriptions (subscribed through the stages, as a client would).
  asio::awaitable<void> listen_resources(const SessionPtr& s, Listener& l,
                                         const json::value& uris);
  void forward_server_request(BackendSlot& slot, json::object&& msg);
  void deliver_progress(BackendSlot& slot, json::object& msg);
  void deliver_server_cancel(BackendSlot& slot, json::object& msg);
  void deliver_log(BackendSlot& slot, json::object& msg);
  /// /healthz for a server with a backend per session: the worst instance, and the count
  /// of instances by state.
  void describe_instances(const std::string& server, json::object& s) const;
  /// /readyz for one server: whether it can serve, and what says so.
  bool server_ready(const config::ServerConfig& server, json::object& s) const;
  template <class F>
  void for_each_session_of(BackendSlot& slot, F&& f);
  /// A new session's id: random, or sealed (gateway.cluster).
  std::string new_session_id(const SessionSpec& spec) const;
  /// Admits a session under `id` (limits checked).
  boost::system::result<SessionPtr> admit_session(std::string id, SessionSpec spec);
  void remember_ended(const std::string& id);

  asio::any_io_executor ex_;
  const config::Config& cfg_;
  upstream::ServerPool pool_;
  bool keeps_authorization_ = false;  ///< see keeps_authorization(); set as servers change
  void note_kept_authorization();
  std::shared_ptr<upstream::Probes> probes_;  ///< remote per-session servers, probed
  mcp::Naming naming_;
  /// Each server's current configuration, shared with its slots.
  std::map<std::string, std::shared_ptr<const config::ServerConfig>, std::less<>> servers_;
  std::map<std::string, SlotPtr> shared_;
  std::set<SlotPtr> retiring_;  ///< taken out of service by a reload, until stopped
  std::unordered_map<std::string, SessionPtr> sessions_;
  std::unordered_map<std::string, std::size_t> sessions_per_owner_;
  struct ProgressRoute {
    std::weak_ptr<Session> session;
    json::value client_token;
    std::weak_ptr<EventStream> out;
  };
  std::unordered_map<std::int64_t, ProgressRoute> progress_;
  std::int64_t next_progress_token_ = 1;
  std::uint64_t next_listen_call_ = 1;
  std::uint64_t next_inflight_order_ = 1;
  std::size_t inflight_count_ = 0;
  bool stopping_ = false;
  access::AuditLog* audit_ = nullptr;
  gate::Gate* gate_ = nullptr;
  std::set<std::string> warned_shortened_;
  /// Seals MRTR's requestState (a key of this process's).
  Sealer sealer_ = Sealer::random();
  /// What seals the gateway's requestStates: the replicas' key ring when there is one, so a
  /// retry may land on any replica; else this process's own key.
  const Sealer& token_sealer() const noexcept {
    return session_keys_ != nullptr ? *session_keys_ : sealer_;
  }
  /// gateway.cluster: seals session ids (null: ids are random).
  std::shared_ptr<const Sealer> session_keys_;
  /// Sealed sessions and Redis: SSE streams copied for the other replicas.
  std::shared_ptr<SharedEvents> shared_events_;
  void share_events();
  /// Follows another replica's reply stream in Redis into `copy` until its response, the
  /// client leaving, or timeouts.callMs without an event.
  asio::awaitable<void> follow_elsewhere(SessionPtr s, std::shared_ptr<EventStream> copy,
                                         std::string replica, std::uint64_t after);
  std::shared_ptr<gate::SharedScopes> shared_scopes_;
  std::shared_ptr<gate::SharedApprovals> shared_approvals_;
  std::shared_ptr<upstream::Redis> shared_redis_;
  std::shared_ptr<SharedRates> shared_rates_;
  std::shared_ptr<access::VaultReader> vault_;
  std::string replica_;
  /// Sealed sessions their client ended (DELETE), not to be revived here; oldest first.
  std::deque<std::string> ended_order_;
  std::unordered_set<std::string> ended_;
};

template <class F>
void Relay::for_each_session_of(BackendSlot& slot, F&& f) {
  if (slot.owner != nullptr) {
    if (!slot.owner->closed()) {
      f(*slot.owner);
    }
    return;
  }
  for (auto& [id, s] : sessions_) {
    if (s->in_view(slot.cfg->name) && s->initialized()) {
      f(*s);
    }
  }
}

}  // namespace mcpgw::relay
