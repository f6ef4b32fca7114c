#include "common/error.hpp"

#include <string>

namespace mcpgw {
namespace {

class GatewayCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "mcpgw"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::parse_error: return "Parse error";
      case Errc::invalid_request: return "Invalid Request";
      case Errc::method_not_found: return "Method not found";
      case Errc::invalid_params: return "Invalid params";
      case Errc::payload_too_large: return "Request body too large";
      case Errc::session_not_found: return "Session not found";
      case Errc::session_required: return "Bad Request: Mcp-Session-Id header is required";
      case Errc::unsupported_version: return "Bad Request: Unsupported protocol version";
      case Errc::too_many_sessions: return "Too many sessions";
      case Errc::forbidden: return "Forbidden";
      case Errc::upstream_unavailable: return "Server unavailable";
      case Errc::upstream_closed: return "Server exited while handling the request";
      case Errc::upstream_timeout: return "Request timed out";
      case Errc::upstream_protocol: return "Server sent an invalid message";
      case Errc::cancelled: return "Request cancelled";
      case Errc::shutting_down: return "Gateway is shutting down";
      case Errc::too_many_client_sessions: return "Too many sessions for this client";
      case Errc::overloaded: return "Service Unavailable: the gateway is over its memory budget";
      case Errc::too_many_processes: return "Too many server processes";
      case Errc::backend_busy: return "Server is not reading its input";
    }
    return "Unknown mcpgw error";
  }
};

}  // namespace

const boost::system::error_category& gateway_category() noexcept {
  static const GatewayCategory category;
  return category;
}

int to_rpc_code(const boost::system::error_code& ec) noexcept {
  if (ec.category() != gateway_category()) {
    return rpc_code::kInternalError;
  }
  switch (static_cast<Errc>(ec.value())) {
    case Errc::parse_error: return rpc_code::kParseError;
    case Errc::invalid_request:
    case Errc::payload_too_large:
    case Errc::session_required:
    case Errc::unsupported_version: return rpc_code::kInvalidRequest;
    case Errc::method_not_found: return rpc_code::kMethodNotFound;
    case Errc::invalid_params: return rpc_code::kInvalidParams;
    case Errc::session_not_found: return rpc_code::kSessionNotFound;
    case Errc::too_many_sessions:
    case Errc::too_many_client_sessions:
    case Errc::overloaded:
    case Errc::too_many_processes:
    case Errc::backend_busy:
    case Errc::forbidden: return rpc_code::kServerError;
    default: return rpc_code::kInternalError;
  }
}

unsigned to_http_status(const boost::system::error_code& ec) noexcept {
  if (ec.category() != gateway_category()) {
    return 500;
  }
  switch (static_cast<Errc>(ec.value())) {
    case Errc::parse_error:
    case Errc::invalid_request:
    case Errc::session_required:
    case Errc::unsupported_version: return 400;
    case Errc::payload_too_large: return 413;
    case Errc::session_not_found: return 404;
    case Errc::too_many_sessions:
    case Errc::shutting_down:
    case Errc::overloaded: return 503;
    case Errc::too_many_client_sessions: return 429;
    case Errc::forbidden: return 403;
    default: return 200;
  }
}

}  // namespace mcpgw
