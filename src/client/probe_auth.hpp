#pragma once
// Reading a refusal: the WWW-Authenticate challenge (RFC 9110 §11.6.1) and where a server's
// OAuth metadata lives (RFC 9728 protected-resource metadata, RFC 8414 authorization-server
// metadata).
#include "upstream/http_client.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::client {

struct AuthChallenge {
  std::string scheme;                         ///< as sent: "Bearer"
  std::map<std::string, std::string> params;  ///< names in lower case, values unquoted
};

/// The challenges of a WWW-Authenticate value, e.g. `Bearer realm="x", resource_metadata="…",
/// Basic realm="y"` → two challenges. Tolerant: what it cannot read it skips.
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

/// Where the protected-resource metadata of `resource` may be: its path inserted after
/// /.well-known/oauth-protected-resource, then the origin's own (RFC 9728 §3.1).
std::vector<std::string> protected_resource_urls(const upstream::Url& resource);

/// Where an authorization server's metadata may be, for its issuer URL: RFC 8414's
/// /.well-known/oauth-authorization-server (path inserted), then OpenID Connect's.
std::vector<std::string> authorization_server_urls(const upstream::Url& issuer);

}  // namespace mcpgw::client
