#pragma once
// One client session: what the client negotiated, which servers it sees, its streams, and what
// is in flight between it and the servers.
#include "access/principal.hpp"
#include "common/clock.hpp"
#include "gate/chain.hpp"
#include "relay/event_stream.hpp"
#include "upstream/backend.hpp"

#include <boost/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace mcpgw::relay {

class SharedEvents;

namespace json = boost::json;

struct BackendSlot;
class Session;

enum class ClientTransport { streamable_http, legacy_sse };

/// A client request forwarded to a server and not yet answered.
struct InFlight {
  json::value client_id;
  std::weak_ptr<Session> session;
  std::shared_ptr<EventStream> out;  ///< where its notifications and response go
  BackendSlot* slot = nullptr;
  upstream::CallPtr call;
  std::uint64_t order = 0;  ///< start order, newest = highest
  /// The server asked for something this stateless request did not declare it can answer
  /// (sampling, elicitation, roots): the request ends with -32021.
  std::string missing_capability;
  /// What its client can answer (the exchange's, which outlives this record).
  const json::object* capabilities = nullptr;
};

/// A request of the gateway's own to the client (an approval by elicitation).
struct GatewayAsk {
  explicit GatewayAsk(asio::any_io_executor ex) : done(std::move(ex)) {}
  Event done;
  std::optional<json::object> answer;  ///< the client's response (result or error)
};

/// A server→client request (sampling, elicitation, roots) waiting for the client's answer,
/// or the gateway's own (`ask` set).
struct PendingServerRequest {
  std::shared_ptr<BackendSlot> slot;  ///< kept until answered, even past a reload
  json::value backend_id;
  std::string method;
  std::shared_ptr<GatewayAsk> ask;
};

/// A stateless request (2026-07-28) that may need the client's input mid-call (MRTR). Each
/// round is one HTTP request: a question from a server (or the gate) ends a round with an
/// `input_required` reply, and the client's retry (its answers, the sealed requestState, a new
/// id) opens the next. The call itself runs on, across rounds, as one exchange.
struct Rounds {
  json::value request_id;  ///< the id the request travels under (the gateway's)
  std::string method;      ///< a retry must repeat the request's method and target
  std::string target;      ///< params.name, or params.uri
  json::value client_id;   ///< the id the current round's reply carries
  std::shared_ptr<EventStream> stream;  ///< the current round's
  /// Questions put to the client and not answered yet, by their key in `inputRequests`
  /// (a question that came between rounds goes out with the next).
  std::map<std::string, json::object> asked;
  std::optional<json::object> final_reply;  ///< the call ended between rounds
  Clock::time_point expires;                ///< a retry after this is refused
};

/// A stateless caller's subscriptions/listen stream (2026-07-28): what it asked to hear.
struct Listener {
  json::value id;  ///< the listen request's: every notification carries it as subscriptionId
  std::shared_ptr<EventStream> stream;
  bool tools = false;
  bool prompts = false;
  bool resources = false;
  std::set<std::string> uris;  ///< resource subscriptions, as the client names the resources
};

/// What a session is opened with, by the transport that opens it. Fixed for its lifetime.
struct SessionSpec {
  ClientTransport transport = ClientTransport::streamable_http;
  /// Servers the session sees, in config order (Relay::resolve_view).
  std::vector<std::string> view;
  /// Per-server endpoint: names and URIs are the server's own, unprefixed.
  bool single_server = false;
  /// Every server the principal may use (no path server, no x-mcp-servers).
  bool whole_view = false;
  /// The path the session is opened on (per-server endpoints keep their sessions apart).
  std::string endpoint;
  /// Whose sessions it counts among (limits.maxSessionsPerClient); empty: nobody's.
  std::string owner;
  /// Who opens it (null when authentication is off).
  access::PrincipalPtr principal;
  /// The taint scope the client named (empty: the session's own).
  std::string scope_name;
  /// The client's Authorization header, kept only when a server is configured to receive it
  /// (gateway.servers.NAME.forwardAuthorization).
  std::string authorization;
  /// Headers the client passed for one server as x-mcp-{server}-{header}
  /// (gateway.servers.NAME.passHeaders), by server.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> passed_headers;
  /// The params of the initialize request that opens it (Streamable HTTP): a sealed session
  /// id (gateway.cluster) carries what it negotiates.
  const json::object* handshake = nullptr;
};

/// One client session. What it was opened with is fixed; what initialize negotiated is set by
/// the initialize handler; `closed` only by Relay::close_session. The maps of what is in
/// flight belong to the relay's handlers.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(asio::any_io_executor ex, std::string id, SessionSpec spec, std::size_t replay);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string id;
  const ClientTransport transport;
  /// Servers this session sees, in config order. One for per-server endpoints. Changed only
  /// by a reload (copy it before a suspension when its indices matter).
  std::vector<std::string> view;
  /// Opened on the aggregate endpoint with nothing narrowing it: a reload's new servers join
  /// the view (those its principal may use).
  const bool whole_view;
  const bool single_server;
  const std::string endpoint;
  const std::string owner;
  /// Lists show only what the principal may use, and every call is checked against it.
  const access::PrincipalPtr principal;
  const std::string scope_name;
  const std::string authorization;
  const std::map<std::string, std::vector<std::pair<std::string, std::string>>> passed_headers;
  /// The access token the client authenticated its latest request with (its Authorization's
  /// bearer value; kept as `authorization` is), shared with the credentials that exchange it.
  /// The one field a request changes: a client renews its token within a long session.
  const std::shared_ptr<std::string> caller_token;

  /// initialize: the version agreed and what the client said of itself (before the reply is
  /// made: a session's own backends are started with them).
  void negotiate(std::string version, json::object capabilities, json::object info);
  /// A stateless request's own clientCapabilities (its caller's session has no handshake).
  void update_capabilities(json::object capabilities) {
    client_capabilities_ = std::move(capabilities);
  }
  /// initialize answered.
  void mark_initialized() noexcept { initialized_ = true; }
  bool initialized() const noexcept { return initialized_; }
  const std::string& protocol_version() const noexcept { return protocol_version_; }
  const json::object& client_capabilities() const noexcept { return client_capabilities_; }
  /// What of the client's capabilities a server may use through the gateway: roots,
  /// sampling, elicitation.
  json::object answerable_capabilities() const { return answerable(client_capabilities_); }
  /// Of `capabilities`, what a server may use through the gateway.
  static json::object answerable(const json::object& capabilities);
  const json::object& client_info() const noexcept { return client_info_; }
  bool closed() const noexcept { return closed_; }

  int log_rank = -1;  ///< minimum logging level the client asked for (-1: everything)

  Clock::time_point last_active;
  /// When Relay::still_open last asked whether another replica ended it (gateway.cluster).
  Clock::time_point ended_checked{};
  const std::int64_t opened_ms = unix_ms();  ///< when it was opened, unix milliseconds
  void touch() noexcept { last_active = Clock::now(); }

  /// Its SSE streams are copied to Redis for the other replicas (a resume through another
  /// replica finds what this one sent).
  void share_events(std::shared_ptr<SharedEvents> events);
  /// The standalone stream: GET /mcp for Streamable HTTP, the whole connection for legacy SSE.
  std::shared_ptr<EventStream> standalone() const noexcept { return standalone_; }
  /// A new stream for one POST's reply.
  std::shared_ptr<EventStream> new_request_stream(bool sse_ok);
  /// Makes a reply stream resumable with Last-Event-ID (once it is sent as SSE; a plain JSON
  /// reply never needs it). Prunes drained streams.
  void register_stream(const std::shared_ptr<EventStream>& stream);
  /// Stream by number, for Last-Event-ID resumption; null if gone.
  std::shared_ptr<EventStream> find_stream(std::uint64_t number) const;
  /// Forgets request streams that are finished and delivered (called as they end).
  void prune_streams();
  bool has_attached_stream() const noexcept;

  bool in_view(std::string_view server) const noexcept;

  std::unordered_map<std::string, std::shared_ptr<InFlight>> inflight;  ///< by id_key
  /// Requests the client cancelled while in flight (id_key): their reply is not sent where
  /// the transport allows leaving it out (spec: the receiver SHOULD NOT respond).
  std::set<std::string> cancelled;
  std::unordered_map<std::string, PendingServerRequest> server_requests;  ///< by id_key
  std::int64_t next_server_request = 1;
  std::set<std::string> subscriptions;  ///< resource URIs as the client sees them
  /// Stateless requests that may need the client's input, by their id_key.
  std::unordered_map<std::string, std::shared_ptr<Rounds>> rounds;
  /// Stateless callers' subscriptions/listen streams: where list changes and resource updates
  /// go (the older revisions' standalone stream).
  std::vector<std::shared_ptr<Listener>> listeners;
  /// The security gate (gateway.security): the scope (named by scope_name, or the session's
  /// own) and this session's filters. Made on the first gated request.
  gate::ScopePtr scope;
  std::shared_ptr<gate::Chain> chain;
  /// Servers with isolation "session": this session's own backends.
  std::map<std::string, std::shared_ptr<BackendSlot>> isolated;

 private:
  friend class Relay;  // close_session sets closed_

  bool initialized_ = false;
  std::string protocol_version_;
  json::object client_capabilities_;
  json::object client_info_;
  bool closed_ = false;
  asio::any_io_executor ex_;
  std::size_t replay_;
  std::uint64_t next_stream_ = 1;
  std::shared_ptr<EventStream> standalone_;
  std::map<std::uint64_t, std::shared_ptr<EventStream>> streams_;
  std::shared_ptr<SharedEvents> events_;
};

using SessionPtr = std::shared_ptr<Session>;

}  // namespace mcpgw::relay
