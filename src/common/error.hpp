#pragma once
// The gateway's own error vocabulary. Each value maps in exactly one place (error.cpp) to the
// JSON-RPC code and the HTTP status a client sees.
#include <boost/system/error_code.hpp>
#include <string_view>
#include <type_traits>

namespace mcpgw {

/// JSON-RPC error codes used on the wire.
namespace rpc_code {
inline constexpr int kParseError = -32700;      ///< body is not JSON
inline constexpr int kInvalidRequest = -32600;  ///< not a valid JSON-RPC 2.0 message
inline constexpr int kMethodNotFound = -32601;  ///< unknown or unsupported method
inline constexpr int kInvalidParams = -32602;   ///< params fail validation (unknown tool, bad URI)
inline constexpr int kInternalError = -32603;   ///< the gateway or a backend failed
inline constexpr int kServerError = -32000;     ///< generic transport-level error
inline constexpr int kSessionNotFound = -32001; ///< unknown or expired session (HTTP 404)
/// 2026-07-28: an HTTP header that mirrors the body (Mcp-Method, Mcp-Name, …) disagrees with it.
inline constexpr int kHeaderMismatch = -32020;
/// 2026-07-28: the request needs a client capability it did not declare (data:
/// requiredCapabilities).
inline constexpr int kMissingCapability = -32021;
/// 2026-07-28: a protocol revision the gateway does not speak (data: supported, requested).
inline constexpr int kUnsupportedVersion = -32022;
/// 2025-11-25: the request needs the user to act at a URL first (data: elicitations, each
/// mode "url" with url, message and elicitationId).
inline constexpr int kUrlElicitationRequired = -32042;
}  // namespace rpc_code

enum class Errc {
  parse_error = 1,       ///< body is not JSON                                    -32700 / 400
  invalid_request,       ///< not a JSON-RPC 2.0 message                          -32600 / 400
  method_not_found,      ///< method the gateway does not serve                    -32601 / 200
  invalid_params,        ///< params fail validation                               -32602 / 200
  payload_too_large,     ///< body over limits.maxBodyBytes                        -32600 / 413
  session_not_found,     ///< unknown or expired Mcp-Session-Id                    -32001 / 404
  session_required,      ///< non-initialize request without Mcp-Session-Id        -32600 / 400
  unsupported_version,   ///< MCP-Protocol-Version the gateway does not speak       -32600 / 400
  too_many_sessions,     ///< limits.maxSessions reached                           -32000 / 503
  forbidden,             ///< Host or Origin not allowed                           -32000 / 403
  upstream_unavailable,  ///< the server is not running (starting, restarting)     -32603
  upstream_closed,       ///< the server exited with the request outstanding       -32603
  upstream_timeout,      ///< no reply before the deadline                         -32603
  upstream_protocol,     ///< the server answered something that is not MCP        -32603
  cancelled,             ///< the client cancelled the request                     -32603
  shutting_down,         ///< the gateway is stopping                              -32603 / 503
  too_many_client_sessions,  ///< limits.maxSessionsPerClient reached              -32000 / 429
  overloaded,            ///< over limits.memoryBudgetBytes: load is shed          -32000 / 503
  too_many_processes,    ///< limits.maxProcesses (global or per server) reached   -32000
  backend_busy,          ///< the server is not reading: limits.maxBackendQueueBytes -32000
};

const boost::system::error_category& gateway_category() noexcept;

inline boost::system::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), gateway_category()};
}

/// JSON-RPC error code for a gateway error (kInternalError for anything foreign).
int to_rpc_code(const boost::system::error_code& ec) noexcept;
/// HTTP status for a gateway error that ends an HTTP exchange on its own.
unsigned to_http_status(const boost::system::error_code& ec) noexcept;

}  // namespace mcpgw

template <>
struct boost::system::is_error_code_enum<mcpgw::Errc> : std::true_type {};
