// After a 401/403: what the challenge says, where the OAuth metadata is (if anywhere), and so
// whether the user needs a key or an OAuth sign-in.
#include "client/probe_auth.hpp"

#include "client/probe_steps.hpp"
#include "common/text.hpp"

#include <boost/json/parse.hpp>
#include <fmt/format.h>

namespace mcpgw::client {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

/// A token (RFC 9110): up to a space, a comma or '='.
std::string_view read_token(std::string_view s, std::size_t& i) {
  const std::size_t start = i;
  while (i < s.size() && !is_space(s[i]) && s[i] != ',' && s[i] != '=') {
    ++i;
  }
  return s.substr(start, i - start);
}

/// A quoted string (backslash escapes undone) or a token.
std::string read_value(std::string_view s, std::size_t& i) {
  std::string out;
  if (i < s.size() && s[i] == '"') {
    for (++i; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        ++i;
      }
      out.push_back(s[i]);
    }
    ++i;  // the closing quote
    return out;
  }
  while (i < s.size() && !is_space(s[i]) && s[i] != ',') {
    out.push_back(s[i++]);
  }
  return out;
}

/// `path` without a trailing slash, "" for the root.
std::string path_part(const upstream::Url& url) {
  std::string path = url.target.substr(0, url.target.find('?'));
  while (!path.empty() && path.back() == '/') {
    path.pop_back();
  }
  return path;
}

}  // namespace

std::vector<AuthChallenge> parse_www_authenticate(std::string_view h) {
  std::vector<AuthChallenge> out;
  std::size_t i = 0;
  while (i < h.size()) {
    while (i < h.size() && (is_space(h[i]) || h[i] == ',')) {
      ++i;
    }
    const std::string_view token = read_token(h, i);
    if (token.empty()) {
      ++i;  // a stray '=': skip it and its value
      read_value(h, i);
      continue;
    }
    std::size_t j = i;
    while (j < h.size() && is_space(h[j])) {
      ++j;
    }
    if (j < h.size() && h[j] == '=' && !out.empty()) {
      i = j + 1;
      while (i < h.size() && is_space(h[i])) {
        ++i;
      }
      out.back().params[lower(token)] = read_value(h, i);
    } else if (j < h.size() && h[j] == '=') {
      i = j + 1;  // a parameter before any scheme: not a challenge
      read_value(h, i);
    } else {
      out.push_back(AuthChallenge{std::string(token), {}});
    }
  }
  return out;
}

std::vector<std::string> protected_resource_urls(const upstream::Url& resource) {
  const std::string path = path_part(resource);
  std::vector<std::string> out;
  if (!path.empty()) {
    out.push_back(resource.origin() + "/.well-known/oauth-protected-resource" + path);
  }
  out.push_back(resource.origin() + "/.well-known/oauth-protected-resource");
  return out;
}

std::vector<std::string> authorization_server_urls(const upstream::Url& issuer) {
  const std::string path = path_part(issuer);
  std::vector<std::string> out;
  out.push_back(issuer.origin() + "/.well-known/oauth-authorization-server" + path);
  out.push_back(issuer.origin() + "/.well-known/openid-configuration" + path);
  if (!path.empty()) {
    out.push_back(issuer.origin() + path + "/.well-known/openid-configuration");
  }
  return out;
}

namespace probe_detail {

namespace {

/// GETs the first of `urls` that answers 200 with a JSON object.
asio::awaitable<std::optional<json::object>> first_document(Context& ctx,
                                                            const std::vector<std::string>& urls,
                                                            std::string& found_at) {
  for (const auto& text : urls) {
    upstream::Url url;
    std::string bad;
    if (ctx.http.out_of_time() || !upstream::parse_url(text, url, bad)) {
      continue;
    }
    const Fields accept{{"Accept", "application/json"}};
    const Reply r = co_await ctx.http.fetch(verb::get, url, accept);
    boost::system::error_code ec;
    const json::value v = r.status == 200 ? json::parse(r.body, ec) : json::value();
    if (r.status == 200 && !ec && v.is_object()) {
      found_at = text;
      co_return v.get_object();
    }
  }
  co_return std::nullopt;
}

/// The first authorization server a protected-resource document names.
std::string first_server(const json::object& doc) {
  const auto* list = doc.if_contains("authorization_servers");
  if (list == nullptr || !list->is_array()) {
    return {};
  }
  for (const auto& s : list->get_array()) {
    if (s.is_string()) {
      return std::string(s.get_string());
    }
  }
  return {};
}

/// Whether the user passed something that looks like a credential.
bool passed_credentials(const ProbeOptions& opts) {
  for (const auto& [name, value] : opts.headers) {
    const std::string n = lower(name);
    if (n == "authorization" || n.find("key") != std::string::npos ||
        n.find("token") != std::string::npos || n.find("auth") != std::string::npos) {
      return true;
    }
  }
  return false;
}

/// The challenge's own error words: " (invalid_token: unknown key)".
std::string challenge_error(const AuthChallenge* c) {
  if (c == nullptr || !c->params.contains("error")) {
    return {};
  }
  const auto& p = c->params;
  const auto desc = p.find("error_description");
  return desc == p.end() ? fmt::format(" ({})", p.at("error"))
                         : fmt::format(" ({}: {})", p.at("error"), desc->second);
}

/// The auth row's words, from what was found.
std::string auth_words(const Context& ctx, const AuthChallenge* bearer) {
  const auto& a = ctx.found.auth;
  std::string words;
  if (!a.authorization_server.empty()) {
    words = fmt::format("needs OAuth: authorization server {} (DCR: {})", a.authorization_server,
                        !a.dcr ? "unknown, its metadata could not be read" : *a.dcr ? "yes" : "no");
  } else if (a.status == 403) {
    words = "refused (HTTP 403): the credentials lack a permission";
  } else if (passed_credentials(ctx.opts)) {
    words = "the credentials you passed with --header were refused";
  } else {
    words = "needs a key: send it with --header 'Authorization: Bearer …'";
  }
  words += challenge_error(bearer);
  if (!a.said.empty()) {
    words += fmt::format("; the server said: \"{}\"", a.said);
  }
  return words;
}

}  // namespace

asio::awaitable<void> explain_auth(Context& ctx) {
  auto& a = ctx.found.auth;
  const auto challenges = parse_www_authenticate(a.challenge);
  const AuthChallenge* bearer = nullptr;
  for (const auto& c : challenges) {
    if (lower(c.scheme) == "bearer") {
      bearer = &c;
      break;
    }
  }
  std::vector<std::string> urls;
  if (bearer != nullptr && bearer->params.contains("resource_metadata")) {
    urls.push_back(bearer->params.at("resource_metadata"));
  }
  for (auto& u : protected_resource_urls(ctx.opts.url)) {
    urls.push_back(std::move(u));
  }
  std::string at;
  if (auto doc = co_await first_document(ctx, urls, at)) {
    a.resource_metadata = at;
    a.authorization_server = first_server(*doc);
  }
  upstream::Url issuer;
  std::string bad;
  if (!a.authorization_server.empty() &&
      upstream::parse_url(a.authorization_server, issuer, bad)) {
    if (auto meta = co_await first_document(ctx, authorization_server_urls(issuer), at)) {
      a.dcr = meta->contains("registration_endpoint");
    }
  }
  ctx.add("auth", "credentials", Mark::fail, auth_words(ctx, bearer), ctx.opts.url);
}

}  // namespace probe_detail

}  // namespace mcpgw::client
