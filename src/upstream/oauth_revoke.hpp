#pragma once
// Ending a user's grant at the authorization server (RFC 7009), for `mcpgw tokens revoke`:
// forgetting the tokens stops the gateway using them; revoking them upstream ends the grant.
#include "upstream/oauth_client.hpp"

namespace mcpgw::upstream {

/// Revokes the refresh token, then the access token, at the tokens' revocation endpoint. The
/// error for people (no endpoint, no answer, a refusal), or empty when both were revoked.
asio::awaitable<std::string> revoke_grant(asio::any_io_executor ex, OAuthTokens tokens,
                                          FetchOptions opts);

}  // namespace mcpgw::upstream
