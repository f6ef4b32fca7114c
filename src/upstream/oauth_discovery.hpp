#pragma once
// Where a remote MCP server's OAuth authorization server is, found as the MCP authorization
// spec asks: the server's 401 names its protected-resource metadata (RFC 9728), which names
// the authorization server, whose own metadata (RFC 8414, or OpenID discovery) gives the
// endpoints.
#include "upstream/oauth_http.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mcpgw::upstream {

struct AuthServerInfo {
  std::string resource;  ///< the resource the tokens are for (the metadata's, else the URL)
  std::string issuer;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string registration_endpoint;  ///< empty: no dynamic registration
  std::string revocation_endpoint;    ///< empty: none offered (RFC 7009)
  bool client_id_metadata = false;    ///< takes a client metadata document's URL as client_id
  /// A client secret goes in the form (client_secret_post), not in HTTP Basic.
  bool secret_in_form = false;
  std::vector<std::string> scopes;    ///< the resource's scopes_supported
};

/// The `resource_metadata` parameter of a WWW-Authenticate header (empty when absent).
std::string resource_metadata_param(std::string_view www_authenticate);
/// Where the protected-resource metadata of `server_url` may be, in the order to try.
std::vector<std::string> resource_metadata_urls(const std::string& server_url);
/// Where the metadata of the authorization server `issuer` may be, in the order to try.
std::vector<std::string> auth_server_metadata_urls(const std::string& issuer);

/// Discovers the authorization server of the MCP server at `server_url`. nullopt with
/// `error` (for people) when the server is not protected that way or a step fails.
asio::awaitable<std::optional<AuthServerInfo>> discover_auth_server(
    asio::any_io_executor ex, const std::string& server_url, const FetchOptions& opts,
    std::string& error);

}  // namespace mcpgw::upstream
