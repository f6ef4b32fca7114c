// GET /ui: the dashboard's static page, script and style sheet. The page holds no data: it
// asks for the admin token and reads the admin API with it. Off (403) while no admin token is
// set. Served with a policy that runs only our own script, in no frame.
#include "downstream/server_impl.hpp"
#include "downstream/ui_assets.hpp"

namespace mcpgw::downstream {

namespace {

constexpr std::string_view kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

Response plain(const Request& req, http::status status, std::string text) {
  Response res{status, req.version() ? req.version() : 11};
  res.set(http::field::server, "mcpgw");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(text);
  res.prepare_payload();
  return res;
}

}  // namespace

Response HttpServer::Impl::dashboard(const Request& req, const std::string& path) {
  if (req.method() != http::verb::get) {
    auto res = plain(req, http::status::method_not_allowed, "Method not allowed: GET " + path + "\n");
    res.set(http::field::allow, "GET");
    return res;
  }
  if (admin_token().empty()) {
    return plain(req, http::status::forbidden,
                 fmt::format("The dashboard is off: it needs the admin token. Set the {} "
                             "environment variable (gateway.security.adminTokenEnv) or "
                             "gateway.security.adminTokenFile.\n",
                             gw_.security.admin_token_env));
  }
  for (const UiAsset& a : ui_assets()) {
    if (a.path != path) {
      continue;
    }
    Response res{http::status::ok, req.version() ? req.version() : 11};
    res.set(http::field::server, "mcpgw");
    res.set(http::field::content_type, a.type);
    res.set(http::field::cache_control, "no-cache");
    res.set("Content-Security-Policy", kPolicy);
    res.set("X-Frame-Options", "DENY");
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Referrer-Policy", "no-referrer");
    res.keep_alive(req.keep_alive());
    res.body() = std::string(a.body);
    res.prepare_payload();
    return res;
  }
  return plain(req, http::status::not_found, "Not found: " + path + "\n");
}

}  // namespace mcpgw::downstream
