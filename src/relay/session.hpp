#pragma once
#include "access/principal.hpp"
// One client session: what the client negotiated, which servers it sees, its streams, and what
// is in flight between it and the servers.
#include "gate/chain.hpp"
#include "relay/event_stream.hpp"
#include "upstream/backend.hpp"

#include <boost/json.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace mcpgw::relay {

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
  BackendSlot* slot = nullptr;
  json::value backend_id;
  std::string method;
  std::shared_ptr<GatewayAsk> ask;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(asio::any_io_executor ex, std::string id, ClientTransport transport,
          std::vector<std::string> view, bool single_server, std::size_t replay);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string id;
  const ClientTransport transport;
  /// Servers this session sees, in config order. One for per-server endpoints.
  const std::vector<std::string> view;
  /// Per-server endpoint: names and URIs are the server's own, unprefixed.
  const bool single_server;
  /// The path the session was created on (per-server endpoints keep their sessions apart).
  std::string endpoint;
  /// Whose sessions this one counts among (limits.maxSessionsPerClient); empty: nobody's.
  std::string owner;

  bool initialized = false;  ///< initialize answered
  std::string protocol_version{"2025-03-26"};
  json::object client_capabilities;
  json::object client_info;
  /// Who opened the session (null when authentication is off). Lists show only what it may
  /// use, and every call is checked against it.
  access::PrincipalPtr principal;
  /// The Authorization header the client opened the session with, kept only when a server
  /// is configured to receive it (gateway.servers.NAME.forwardAuthorization).
  std::string authorization;
  int log_rank = -1;  ///< minimum logging level the client asked for (-1: everything)
  bool closed = false;

  Clock::time_point last_active;
  void touch() noexcept { last_active = Clock::now(); }

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
  /// The security gate (gateway.security): the scope the client named (empty: the session's
  /// own), the scope itself, and this session's filters. Made on the first gated request.
  std::string scope_name;
  gate::ScopePtr scope;
  std::unique_ptr<gate::Chain> chain;
  /// Servers with isolation "session": this session's own backends.
  std::map<std::string, std::unique_ptr<BackendSlot>> isolated;

 private:
  asio::any_io_executor ex_;
  std::size_t replay_;
  std::uint64_t next_stream_ = 1;
  std::shared_ptr<EventStream> standalone_;
  std::map<std::uint64_t, std::shared_ptr<EventStream>> streams_;
};

using SessionPtr = std::shared_ptr<Session>;

}  // namespace mcpgw::relay
