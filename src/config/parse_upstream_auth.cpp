// `gateway.servers.NAME.auth`: the identity the gateway takes toward a remote server for each
// caller, and the checks that it can work (a remote server, one upstream session per caller,
// a caller token to start from, no token passthrough beside it).
#include "config/parse.hpp"

#include <fmt/format.h>

namespace mcpgw::config::detail {

void parse_upstream_auth(ObjectReader& r, const EnvLookup& env, Diagnostics& diag,
                         UpstreamAuth& out) {
  const auto* obj = as_object(r.get("auth"), r.path("auth"), diag);
  if (obj == nullptr) {
    return;
  }
  const std::string path = r.path("auth");
  ObjectReader a(*obj, path, diag);
  std::string type;
  a.str("type", type);
  if (type == "tokenExchange") {
    out.type = UpstreamAuth::Type::token_exchange;
  } else {
    diag.error(a.path("type"), fmt::format("expected \"tokenExchange\", got \"{}\"", type));
    return;
  }
  a.str("tokenUrl", out.token_url);
  a.str("audience", out.audience);
  a.str("resource", out.resource);
  a.str("scope", out.scope);
  a.str("clientId", out.client_id);
  a.str("clientSecret", out.client_secret);
  expand(out.token_url, a.path("tokenUrl"), env, diag);
  expand(out.client_secret, a.path("clientSecret"), env, diag);
  if (!out.token_url.starts_with("http://") && !out.token_url.starts_with("https://")) {
    diag.error(a.path("tokenUrl"), "tokenExchange needs the token endpoint's http(s) URL");
  }
  if (!out.client_secret.empty() && out.client_id.empty()) {
    diag.error(a.path("clientSecret"), "a client secret needs its clientId");
  }
}

void check_upstream_auth(const ServerConfig& sc, const std::string& path,
                         const AuthConfig& gateway_auth, Diagnostics& diag) {
  const auto& o = sc.options;
  if (o.auth.type == UpstreamAuth::Type::none) {
    return;
  }
  const std::string at = join_path(path, "auth");
  if (sc.transport == Transport::stdio) {
    diag.error(at, "tokenExchange applies to http and sse servers only");
  }
  if (o.isolation == Isolation::shared) {
    diag.error(at, "tokenExchange needs isolation \"session\": a shared upstream session "
                   "cannot carry each caller's token");
  }
  if (o.forward_authorization) {
    diag.error(at, "tokenExchange replaces forwardAuthorization: set one of them");
  }
  if (!gateway_auth.uses_jwt()) {
    diag.error(at, fmt::format("tokenExchange trades the caller's OAuth access token, but "
                               "gateway.auth.mode is \"{}\" (use jwt or keys,jwt)",
                               gateway_auth.mode));
  }
}

}  // namespace mcpgw::config::detail
