#include "upstream/oauth_revoke.hpp"

#include <fmt/format.h>

namespace mcpgw::upstream {

namespace {

/// One revocation request; the error, or empty. RFC 7009 answers 200 also for a token the
/// server no longer knows, which is as good: it is not valid there.
asio::awaitable<std::string> revoke_one(asio::any_io_executor ex, const OAuthTokens& who,
                                        const std::string& token, std::string_view hint,
                                        const FetchOptions& opts) {
  std::string body;
  add_form_field(body, "token", token);
  add_form_field(body, "token_type_hint", hint);
  const auto answer = co_await post_as_client(ex, who, who.revocation_endpoint, std::move(body),
                                              opts);
  if (answer.status == 200) {
    co_return std::string();
  }
  if (answer.status == 0) {
    co_return fmt::format("revoking the {}: {}", hint, answer.error);  // the error names the URL
  }
  co_return fmt::format("revoking the {} at {}: {}", hint, who.revocation_endpoint,
                        oauth_error(answer));
}

}  // namespace

asio::awaitable<std::string> revoke_grant(asio::any_io_executor ex, OAuthTokens tokens,
                                          FetchOptions opts) {
  if (tokens.revocation_endpoint.empty()) {
    co_return std::string("the authorization server named no revocation endpoint when the "
                          "user connected");
  }
  std::string error;
  if (!tokens.refresh_token.empty()) {
    error = co_await revoke_one(ex, tokens, tokens.refresh_token, "refresh_token", opts);
  }
  if (error.empty() && !tokens.access_token.empty()) {
    error = co_await revoke_one(ex, tokens, tokens.access_token, "access_token", opts);
  }
  co_return error;
}

}  // namespace mcpgw::upstream
