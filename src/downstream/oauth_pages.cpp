// The pages of the gateway's OAuth client, where a user connects their own account for a
// server with auth "oauth": /oauth/start (the consent page, then off to the authorization
// server), /oauth/callback (the code redeemed, the tokens kept), and /oauth/client.json (the
// gateway's client metadata document). A browser has no API key: the link's sealed ticket
// says who it is for, and a cookie binds the callback to the browser that started.
#include "downstream/server_impl.hpp"

#include "upstream/oauth_client.hpp"

#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>

#include "common/text.hpp"
#include "upstream/consent_link.hpp"

namespace mcpgw::downstream {

namespace {

constexpr std::string_view kCookie = "mcpgw_oauth";

std::string escape_html(std::string_view s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

Response page(const Request& req, http::status status, std::string_view title,
              std::string_view body_html) {
  Response res{status, req.version() ? req.version() : 11};
  res.set(http::field::server, "mcpgw");
  res.set(http::field::content_type, "text/html; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  // Nothing loads, nothing frames the consent button, and the ticket goes to no other site.
  // "same-origin", not "no-referrer": under the latter a browser posts the page's form with
  // `Origin: null`, which the gateway's Origin check refuses.
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "same-origin");
  res.keep_alive(req.keep_alive());
  res.body() = fmt::format(
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0}</title><style>"
      "body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}"
      "button{{font-size:1rem;padding:.5rem 1.5rem}}code{{background:#eee;padding:0 .2rem}}"
      "</style></head><body><h1>{0}</h1>{1}</body></html>\n",
      escape_html(title), body_html);
  res.prepare_payload();
  return res;
}

/// A field of a query or form body (decoded, '+' read as a space), or empty.
std::string field(std::string_view query, std::string_view key) {
  auto params = boost::urls::parse_query(query);
  if (!params) {
    return {};
  }
  for (auto p : *params) {
    if (p.key == key) {
      std::string encoded;
      for (char ch : std::string_view(p.value)) {
        encoded += ch == '+' ? std::string_view("%20") : std::string_view(&ch, 1);
      }
      auto pct = boost::urls::make_pct_string_view(encoded);
      return pct ? pct->decode() : std::string();
    }
  }
  return {};
}

Response bad_link(const Request& req) {
  return page(req, http::status::bad_request, "This link is not valid",
              "<p>It was altered, or it has expired. Ask your agent to call the tool again: its "
              "answer has a new link.</p>");
}

/// The value of cookie `name` in a Cookie header, or empty.
std::string cookie(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto end = header.find(';');
    std::string_view pair = header.substr(0, end);
    while (!pair.empty() && pair.front() == ' ') {
      pair.remove_prefix(1);
    }
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
    header = end == std::string_view::npos ? std::string_view() : header.substr(end + 1);
  }
  return {};
}

bool same_secret(std::string_view a, std::string_view b) {
  return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

void HttpServer::Impl::audit_consent(const upstream::ConsentState& st, std::string outcome,
                                     std::string detail) {
  access::AuditLog* log = relay_.audit_log();
  if (log == nullptr) {
    return;
  }
  access::AuditRecord r;
  r.ts_ms = unix_ms();
  r.principal = st.principal;
  r.server = st.server;
  r.method = "oauth";
  r.target = "connect";
  r.outcome = std::move(outcome);
  r.detail = std::move(detail);
  log->record(std::move(r));
}

bool HttpServer::Impl::is_oauth_page(std::string_view path) {
  return path == "/oauth/start" || path == "/oauth/callback" || path == "/oauth/client.json";
}

asio::awaitable<Response> HttpServer::Impl::oauth_pages(const Request& req,
                                                        const std::string& path,
                                                        const boost::urls::url_view& target) {
  const bool get = req.method() == http::verb::get;
  if (path == "/oauth/client.json" && get) {
    auto res = json_response(req, 200, upstream::client_metadata_document(relay_.public_url()));
    res.set(http::field::cache_control, "public, max-age=3600");
    co_return res;
  }
  if (path == "/oauth/start" && (get || req.method() == http::verb::post)) {
    // (A local, not a conditional's temporary inside co_await: g++ 12 destroys that twice.)
    const std::string form = get ? std::string(target.encoded_query()) : req.body();
    co_return co_await oauth_start(req, form, get);
  }
  if (path == "/oauth/callback" && get) {
    const std::string query(target.encoded_query());
    co_return co_await oauth_callback(req, query);
  }
  Response res = page(req, http::status::method_not_allowed, "Method not allowed",
                      "<p>Open the link your agent gave you.</p>");
  res.set(http::field::allow, path == "/oauth/start" ? "GET, POST" : "GET");
  co_return res;
}

asio::awaitable<Response> HttpServer::Impl::oauth_start(const Request& req,
                                                        const std::string& form, bool get) {
  const std::string server = field(form, "server");
  auto client = relay_.oauth_client(server);
  if (const auto* cfg = relay_.config().find(server);
      !client && cfg != nullptr && !cfg->user_secrets.empty()) {
    co_return co_await values_page(req, *cfg, form, get);
  }
  if (!client) {
    co_return page(req, http::status::not_found, "Unknown server",
                   fmt::format("<p>No server named <code>{}</code> connects accounts with "
                               "OAuth here.</p>", escape_html(server)));
  }
  const std::string ticket = field(form, "ticket");
  const auto principal = client->open_ticket(ticket);
  if (!principal) {
    co_return bad_link(req);
  }
  if (get) {
    co_return page(
        req, http::status::ok, "Connect " + server,
        fmt::format("<p>Connect your account at <b>{0}</b> to the gateway for its user "
                    "<b>{1}</b>. The gateway keeps the tokens sealed and uses them only for "
                    "calls that {1} makes to {0}.</p><p>If you did not ask for this, close "
                    "this page.</p><form method=\"post\" action=\"/oauth/start\">"
                    "<input type=\"hidden\" name=\"server\" value=\"{2}\">"
                    "<input type=\"hidden\" name=\"ticket\" value=\"{3}\">"
                    "<button type=\"submit\">Connect</button></form>",
                    escape_html(server), escape_html(*principal), escape_html(server),
                    escape_html(ticket)));
  }
  std::string nonce, error;
  auto where = co_await client->authorize_url(*principal, nonce, error);
  if (!where) {
    co_return page(req, http::status::bad_gateway, "Cannot connect " + server,
                   "<p>" + escape_html(error) + "</p>");
  }
  Response res{http::status::found, req.version() ? req.version() : 11};
  res.set(http::field::server, "mcpgw");
  res.set(http::field::location, *where);
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::set_cookie,
          fmt::format("{}={}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={}{}", kCookie, nonce,
                      std::chrono::seconds(upstream::OAuthClient::kStateLife).count(),
                      relay_.public_url().starts_with("https://") ? "; Secure" : ""));
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  co_return res;
}

asio::awaitable<Response> HttpServer::Impl::values_page(const Request& req,
                                                        config::ServerConfig server,
                                                        const std::string& form, bool get) {
  // (`server` is a copy: a reload while the vault is written may replace the config.)
  auto vault = relay_.vault();
  const std::string ticket = field(form, "ticket");
  const auto principal =
      vault ? upstream::open_consent_ticket(vault->sealer(), ticket, server.name) : std::nullopt;
  if (!principal) {
    co_return bad_link(req);
  }
  const std::string name = escape_html(server.name);
  if (get) {
    std::string inputs;
    for (const auto& key : server.user_secrets) {
      inputs += fmt::format("<p><label><code>{0}</code><br><input type=\"password\" "
                            "name=\"v.{0}\" autocomplete=\"off\" size=\"48\"></label></p>",
                            escape_html(key));
    }
    co_return page(
        req, http::status::ok, "Your values for " + server.name,
        fmt::format("<p>Server <b>{0}</b> runs with values only you can give. The gateway keeps "
                    "them sealed in its vault for its user <b>{1}</b>, and gives them only to "
                    "{0} when {1} uses it. A field left empty keeps its value.</p>"
                    "<form method=\"post\" action=\"/oauth/start\">{2}"
                    "<input type=\"hidden\" name=\"server\" value=\"{0}\">"
                    "<input type=\"hidden\" name=\"ticket\" value=\"{3}\">"
                    "<button type=\"submit\">Save</button></form>",
                    name, escape_html(*principal), inputs, escape_html(ticket)));
  }
  std::vector<std::string> saved;
  std::string error;
  for (const auto& key : server.user_secrets) {
    std::string value = field(form, "v." + key);
    if (!value.empty() && error.empty()) {
      error = co_await vault->set_value(*principal, key, std::move(value));
      saved.push_back(key);
    }
  }
  audit_values(*principal, server.name, saved, error);
  if (!error.empty()) {
    co_return page(req, http::status::bad_gateway, "Not saved", "<p>" + escape_html(error) + "</p>");
  }
  co_return page(req, saved.empty() ? http::status::bad_request : http::status::ok,
                 saved.empty() ? "Nothing saved" : "Saved",
                 saved.empty() ? std::string("<p>Every field was empty.</p>")
                               : fmt::format("<p>Saved {} value(s) for <b>{}</b>. Your agent's "
                                             "next call to <b>{}</b> starts it with them.</p>",
                                             saved.size(), escape_html(*principal), name));
}

void HttpServer::Impl::audit_values(const std::string& principal, const std::string& server,
                                    const std::vector<std::string>& names,
                                    const std::string& error) {
  access::AuditLog* log = relay_.audit_log();
  if (log == nullptr) {
    return;
  }
  access::AuditRecord r;
  r.ts_ms = unix_ms();
  r.principal = principal;
  r.server = server;
  r.method = "vault";
  r.target = "set " + join_list(names);
  r.outcome = error.empty() ? "ok" : "error";
  r.detail = error;
  log->record(std::move(r));
}

asio::awaitable<Response> HttpServer::Impl::oauth_callback(const Request& req,
                                                           const std::string& query) {
  auto vault = relay_.vault();
  auto st = vault ? upstream::open_consent_state(vault->sealer(), field(query, "state"))
                  : std::nullopt;
  if (!st || !same_secret(cookie(req[http::field::cookie], kCookie), st->nonce)) {
    co_return page(req, http::status::bad_request, "This answer is not valid",
                   "<p>It does not belong to a connection started in this browser, or it came "
                   "too late. Start again from the link your agent gave you.</p>");
  }
  if (auto refused = field(query, "error"); !refused.empty()) {
    const auto why = field(query, "error_description");
    audit_consent(*st, "denied", fmt::format("the authorization server said {}", refused));
    co_return page(req, http::status::bad_request, "Not connected",
                   fmt::format("<p>The authorization server said <code>{}</code>{}{}.</p>",
                               escape_html(refused), why.empty() ? "" : ": ",
                               escape_html(why)));
  }
  auto client = relay_.oauth_client(st->server);
  std::string error;
  const std::string code = field(query, "code");
  if (!client || code.empty() || !co_await client->redeem(*st, code, error)) {
    error = code.empty() ? "The answer has no code." : !client ? "No such server." : error;
    audit_consent(*st, "error", error);
    co_return page(req, http::status::bad_gateway, "Not connected",
                   "<p>" + escape_html(error) + "</p>");
  }
  audit_consent(*st, "ok", "connected their account");
  auto res = page(req, http::status::ok, "Connected",
                  fmt::format("<p>Your account at <b>{}</b> is connected for <b>{}</b>. You "
                              "can close this page and go back to your agent.</p>",
                              escape_html(st->server), escape_html(st->principal)));
  res.set(http::field::set_cookie, fmt::format("{}=; Path=/oauth; Max-Age=0", kCookie));
  co_return res;
}

}  // namespace mcpgw::downstream
