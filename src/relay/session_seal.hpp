#pragma once
// Sealed session ids (gateway.cluster): the id a replica gives a session carries what the
// session was opened with, sealed with the key ring the replicas share, so that any replica can
// serve the session's next request without asking the one that opened it.
#include "common/sealer.hpp"
#include "relay/session.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::relay {

/// What a session id holds. Fixed when the session opens (initialize), like the session's spec.
struct SealedSession {
  std::string replica;         ///< the replica that opened it
  std::int64_t opened_ms = 0;  ///< unix milliseconds
  ClientTransport transport = ClientTransport::streamable_http;
  std::string endpoint;
  std::string principal;  ///< the principal's name; empty when authentication is off
  std::string scope_name;
  bool whole_view = false;
  bool single_server = false;
  /// It has servers of its own (isolation "session"): only its replica has them.
  bool isolated = false;
  std::vector<std::string> view;
  /// What initialize negotiated (empty for a legacy SSE session, whose initialize comes
  /// after its id).
  std::string version;
  json::object capabilities;
  json::object client_info;
};

/// The session id: the state sealed for the purpose "mcp-session" (base64url, visible ASCII).
std::string seal_session(const Sealer& sealer, const SealedSession& state);
/// The state an id holds; nullopt when it is not a sealed session id of this key ring.
std::optional<SealedSession> open_sealed_session(const Sealer& sealer, std::string_view id);

}  // namespace mcpgw::relay
