// OAuth protected-resource metadata (RFC 9728), the WWW-Authenticate challenge, and the answer
// to an OAuth client that tries to register with a gateway that takes API keys only.
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

std::string HttpServer::Impl::public_origin(const Request& req) const {
  const auto& resource = auth_.jwt()->config().resource;
  if (!resource.empty()) {
    auto url = boost::urls::parse_absolute_uri(resource);
    if (url) {
      return fmt::format("{}://{}", std::string_view(url->scheme()),
                         std::string_view(url->encoded_authority()));
    }
  }
  // Host was checked against allowedHosts before routing got here.
  return fmt::format("http://{}", std::string_view(req[http::field::host]));
}

std::string HttpServer::Impl::www_authenticate(const Request& req, const std::string& path,
                                               const access::AuthResult& who) const {
  std::string h = "Bearer realm=\"mcpgw\"";
  if (auth_.jwt() != nullptr) {
    h += fmt::format(", resource_metadata=\"{}{}{}\"", public_origin(req), kResourceMetadata,
                     path);
  }
  auto quoted = [](std::string_view text) {
    std::string out;
    for (char ch : text) {
      if (ch != '"' && ch != '\\') {
        out.push_back(ch);
      }
    }
    return out;
  };
  if (who.outcome == access::AuthOutcome::forbidden) {
    std::string scopes;
    for (const auto& [name, grant] : auth_.jwt()->config().grants) {
      scopes += scopes.empty() ? name : " " + name;
    }
    h += fmt::format(", error=\"insufficient_scope\", scope=\"{}\", error_description=\"{}\"",
                     quoted(scopes), quoted(who.reason));
  } else if (who.outcome == access::AuthOutcome::invalid) {
    h += fmt::format(", error=\"invalid_token\", error_description=\"{}\"", quoted(who.reason));
  }
  return h;
}

Response HttpServer::Impl::resource_metadata(const Request& req, const std::string& suffix) {
  const auto& cfg = auth_.jwt()->config();
  json::object doc;
  doc["resource"] = !cfg.resource.empty() ? cfg.resource : public_origin(req) + suffix;
  json::array servers;
  for (const auto& s : cfg.authorization_servers) {
    servers.emplace_back(s);
  }
  doc["authorization_servers"] = std::move(servers);
  json::array methods;
  methods.emplace_back("header");
  doc["bearer_methods_supported"] = std::move(methods);
  if (!cfg.grants.empty()) {
    json::array scopes;
    for (const auto& [name, grant] : cfg.grants) {
      scopes.emplace_back(name);
    }
    doc["scopes_supported"] = std::move(scopes);
  }
  doc["resource_name"] = "mcpgw";
  return json_response(req, 200, json::serialize(doc));
}

Response HttpServer::Impl::keys_only_registration(const Request& req) {
  // An MCP client that got a 401 tries OAuth: no metadata (404s), then registration at
  // /register. Its error is what the user reads, so it says what to do instead (RFC 7591).
  json::object o;
  o["error"] = "invalid_client_metadata";
  o["error_description"] =
      "This gateway takes API keys, not OAuth: send the key as \"Authorization: Bearer <key>\" "
      "(Claude Code: claude mcp add --transport http NAME URL --header \"Authorization: Bearer "
      "<key>\"), or as x-api-key";
  auto res = json_response(req, 400, json::serialize(o));
  res.set(http::field::cache_control, "no-store");
  return res;
}

}  // namespace mcpgw::downstream
