// `gateway.servers.NAME.auth`: the identity the gateway takes toward a remote server for each
// caller, and the checks that it can work (a remote server, one upstream session per caller,
// callers told apart, no token passthrough beside it).
#include "config/parse.hpp"

#include <fmt/format.h>

namespace mcpgw::config::detail {

namespace {

std::string_view type_name(UpstreamAuth::Type t) {
  return t == UpstreamAuth::Type::oauth ? "oauth" : "tokenExchange";
}

bool is_http_url(std::string_view s) {
  return s.starts_with("http://") || s.starts_with("https://");
}

}  // namespace

void read_public_url(ObjectReader& r, Diagnostics& diag, std::string& out) {
  r.str("publicUrl", out);
  while (!out.empty() && out.back() == '/') {
    out.pop_back();
  }
  if (!out.empty() && (!is_http_url(out) || out.find_first_of("?# ") != std::string::npos)) {
    diag.error("gateway.publicUrl",
               fmt::format("expected the gateway's http(s) URL without a query, got \"{}\"", out));
  }
}

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
  } else if (type == "oauth") {
    out.type = UpstreamAuth::Type::oauth;
  } else {
    diag.error(a.path("type"),
               fmt::format("expected \"oauth\" or \"tokenExchange\", got \"{}\"", type));
    return;
  }
  if (out.type == UpstreamAuth::Type::token_exchange) {
    a.str("tokenUrl", out.token_url);
    a.str("audience", out.audience);
    expand(out.token_url, a.path("tokenUrl"), env, diag);
    if (!is_http_url(out.token_url)) {
      diag.error(a.path("tokenUrl"), "tokenExchange needs the token endpoint's http(s) URL");
    }
  }
  a.str("resource", out.resource);
  a.str("scope", out.scope);
  a.str("clientId", out.client_id);
  a.str("clientSecret", out.client_secret);
  expand(out.client_secret, a.path("clientSecret"), env, diag);
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
  const auto type = type_name(o.auth.type);
  if (sc.transport == Transport::stdio) {
    diag.error(at, fmt::format("{} applies to http and sse servers only", type));
  }
  if (o.isolation == Isolation::shared) {
    diag.error(at, fmt::format("{} needs isolation \"session\": a shared upstream session "
                               "cannot carry each caller's token", type));
  }
  if (o.forward_authorization) {
    diag.error(at, fmt::format("{} replaces forwardAuthorization: set one of them", type));
  }
  if (o.auth.type == UpstreamAuth::Type::oauth) {
    if (gateway_auth.mode == "none") {
      diag.error(at, "oauth keeps each caller's own tokens, but gateway.auth.mode is \"none\": "
                     "every caller is the same anonymous user (use keys or jwt)");
    }
    return;
  }
  if (!gateway_auth.uses_jwt()) {
    diag.error(at, fmt::format("tokenExchange trades the caller's OAuth access token, but "
                               "gateway.auth.mode is \"{}\" (use jwt or keys,jwt)",
                               gateway_auth.mode));
  }
}

}  // namespace mcpgw::config::detail
