#include "upstream/oauth_discovery.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace mcpgw::upstream {

namespace {

namespace json = boost::json;

/// origin + the path of `url` without its query (empty path: none).
std::pair<std::string, std::string> split(const std::string& url) {
  Url u;
  std::string error;
  if (!parse_url(url, u, error)) {
    return {};
  }
  std::string path = u.target.substr(0, u.target.find_first_of("?#"));
  while (!path.empty() && path.back() == '/') {
    path.pop_back();
  }
  return {u.origin(), path};
}

std::optional<json::object> json_answer(const Fetched& f) {
  if (f.status != 200) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  json::value v = json::parse(f.body, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  return std::move(v.get_object());
}

/// The first of `urls` that answers a JSON object, or nullopt with `error` saying so.
asio::awaitable<std::optional<json::object>> first_document(asio::any_io_executor ex,
                                                            const std::vector<std::string>& urls,
                                                            const FetchOptions& opts,
                                                            std::string& error) {
  for (const auto& url : urls) {
    auto got = co_await fetch(ex, url, http::verb::get, std::string(), std::string_view(), std::string_view(), opts);
    if (auto doc = json_answer(got)) {
      co_return doc;
    }
    error = got.error.empty() ? fmt::format("{} answered HTTP {}", url, got.status) : got.error;
  }
  co_return std::nullopt;
}

/// The metadata's URL: from the server's 401 when it names one, else the well-known places.
asio::awaitable<std::vector<std::string>> metadata_candidates(asio::any_io_executor ex,
                                                              const std::string& server_url,
                                                              const FetchOptions& opts) {
  // An initialize without a token: a protected server answers 401 and says where to look.
  const std::string probe = R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{)"
                            R"("protocolVersion":"2025-11-25","capabilities":{},)"
                            R"("clientInfo":{"name":"mcpgw","version":"discovery"}}})";
  auto got = co_await fetch(ex, server_url, http::verb::post, probe, std::string_view("application/json"), std::string_view(), opts);
  std::vector<std::string> urls;
  if (auto named = resource_metadata_param(got.www_authenticate); !named.empty()) {
    urls.push_back(std::move(named));
  }
  for (auto& u : resource_metadata_urls(server_url)) {
    urls.push_back(std::move(u));
  }
  co_return urls;
}

std::vector<std::string> strings_of(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  if (const auto* a = o.if_contains(key); a != nullptr && a->is_array()) {
    for (const auto& v : a->get_array()) {
      if (v.is_string()) {
        out.emplace_back(v.get_string());
      }
    }
  }
  return out;
}

bool has(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

/// The endpoints from an authorization server's metadata; false with `error` when they cannot
/// serve an authorization code flow with PKCE.
bool read_endpoints(const json::object& doc, AuthServerInfo& out, std::string& error) {
  out.authorization_endpoint = string_of(doc, "authorization_endpoint");
  out.token_endpoint = string_of(doc, "token_endpoint");
  out.registration_endpoint = string_of(doc, "registration_endpoint");
  out.revocation_endpoint = string_of(doc, "revocation_endpoint");
  if (const auto* v = doc.if_contains("client_id_metadata_document_supported")) {
    out.client_id_metadata = v->is_bool() && v->get_bool();
  }
  const auto methods = strings_of(doc, "token_endpoint_auth_methods_supported");
  out.secret_in_form = has(methods, "client_secret_post") && !has(methods, "client_secret_basic");
  if (out.authorization_endpoint.empty() || out.token_endpoint.empty()) {
    error = fmt::format("the authorization server {} names no authorization or token endpoint",
                        out.issuer);
    return false;
  }
  if (!has(strings_of(doc, "code_challenge_methods_supported"), "S256")) {
    error = fmt::format("the authorization server {} does not offer PKCE with S256, which the "
                        "MCP authorization spec requires", out.issuer);
    return false;
  }
  return true;
}

}  // namespace

std::string resource_metadata_param(std::string_view h) {
  const std::string_view key = "resource_metadata=";
  for (std::size_t at = h.find(key); at != std::string_view::npos; at = h.find(key, at + 1)) {
    if (at != 0 && h[at - 1] != ' ' && h[at - 1] != ',') {
      continue;  // a longer parameter's name ends this way
    }
    std::string_view rest = h.substr(at + key.size());
    if (!rest.empty() && rest.front() == '"') {
      rest.remove_prefix(1);
      return std::string(rest.substr(0, rest.find('"')));
    }
    return std::string(rest.substr(0, rest.find_first_of(", ")));
  }
  return {};
}

std::vector<std::string> resource_metadata_urls(const std::string& server_url) {
  const auto [origin, path] = split(server_url);
  if (origin.empty()) {
    return {};
  }
  std::vector<std::string> out;
  if (!path.empty()) {
    out.push_back(origin + "/.well-known/oauth-protected-resource" + path);
  }
  out.push_back(origin + "/.well-known/oauth-protected-resource");
  return out;
}

std::vector<std::string> auth_server_metadata_urls(const std::string& issuer) {
  const auto [origin, path] = split(issuer);
  if (origin.empty()) {
    return {};
  }
  if (path.empty()) {
    return {origin + "/.well-known/oauth-authorization-server",
            origin + "/.well-known/openid-configuration"};
  }
  return {origin + "/.well-known/oauth-authorization-server" + path,
          origin + "/.well-known/openid-configuration" + path,
          origin + path + "/.well-known/openid-configuration"};
}

asio::awaitable<std::optional<AuthServerInfo>> discover_auth_server(
    asio::any_io_executor ex, const std::string& server_url, const FetchOptions& opts,
    std::string& error) {
  const auto candidates = co_await metadata_candidates(ex, server_url, opts);
  auto prm = co_await first_document(ex, candidates, opts, error);
  if (!prm) {
    error = fmt::format("no OAuth protected-resource metadata for {} ({})", server_url, error);
    co_return std::nullopt;
  }
  AuthServerInfo out;
  const auto servers = strings_of(*prm, "authorization_servers");
  if (servers.empty()) {
    error = fmt::format("the resource metadata of {} names no authorization server", server_url);
    co_return std::nullopt;
  }
  out.issuer = servers.front();
  out.resource = string_of(*prm, "resource");
  out.scopes = strings_of(*prm, "scopes_supported");
  auto as = co_await first_document(ex, auth_server_metadata_urls(out.issuer), opts, error);
  if (!as) {
    error = fmt::format("no metadata for the authorization server {} ({})", out.issuer, error);
    co_return std::nullopt;
  }
  if (!read_endpoints(*as, out, error)) {
    co_return std::nullopt;
  }
  co_return out;
}

}  // namespace mcpgw::upstream
