// The admin API's read-only views, which the dashboard polls: servers (state, restarts, tools),
// live sessions, API keys (never their secret or digest) and the newest audit rows.
#include "downstream/server_impl.hpp"

#include "access/audit.hpp"

#include <charconv>

namespace mcpgw::downstream {

namespace {

json::object key_json(const access::KeyRecord& k, std::int64_t now_s) {
  auto strings = [](const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) {
      a.emplace_back(s);
    }
    return a;
  };
  json::object o;
  o["name"] = k.name;
  o["prefix"] = k.prefix;
  o["servers"] = strings(k.servers);
  o["tools"] = strings(k.tools);
  o["denyTools"] = strings(k.deny_tools);
  o["created"] = k.created_at;
  if (k.expires_at) {
    o["expires"] = *k.expires_at;
  }
  if (k.rate_per_min) {
    o["ratePerMin"] = *k.rate_per_min;
  }
  if (k.revoked_at) {
    o["revoked"] = *k.revoked_at;
  }
  o["status"] = k.revoked_at                              ? "revoked"
                : k.expires_at && *k.expires_at <= now_s ? "expired"
                                                         : "live";
  return o;
}

/// ?limit=N (1 to AuditLog::kTail), else 50.
std::size_t audit_limit(const boost::urls::url_view& target) {
  std::size_t n = 50;
  if (auto it = target.params().find("limit"); it != target.params().end()) {
    const std::string v = (*it).value;
    std::size_t parsed = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
    if (ec == std::errc() && end == v.data() + v.size() && parsed > 0) {
      n = parsed;
    }
  }
  return std::min(n, access::AuditLog::kTail);
}

}  // namespace

std::optional<Response> HttpServer::Impl::admin_view(const Request& req, const std::string& path,
                                                     const boost::urls::url_view& target) {
  if (path != "/admin/servers" && path != "/admin/sessions" && path != "/admin/keys" &&
      path != "/admin/audit") {
    return std::nullopt;
  }
  if (req.method() != http::verb::get) {
    return error_json(req, 405, fmt::format("Method not allowed: GET {}", path));
  }
  json::object o;
  if (path == "/admin/servers") {
    o = relay_.health();
    for (auto& [name, s] : o["servers"].as_object()) {
      json::array tools;
      for (auto& t : relay_.tool_names(std::string(name))) {
        tools.emplace_back(std::move(t));
      }
      s.as_object()["toolNames"] = std::move(tools);
    }
  } else if (path == "/admin/sessions") {
    o["sessions"] = relay_.sessions_detail();
  } else if (path == "/admin/keys") {
    access::KeyStore* store = auth_.keys();
    if (store == nullptr) {
      return error_json(req, 404, "Not found: API keys are off (gateway.auth.mode is not keys)");
    }
    json::array keys;
    const std::int64_t now_s = unix_s();
    for (const auto& k : store->known()) {
      keys.push_back(key_json(k, now_s));
    }
    o["keys"] = std::move(keys);
  } else {
    const access::AuditLog* log = relay_.audit_log();
    if (log == nullptr) {
      return error_json(req, 404, "Not found: the audit trail is off (gateway.audit)");
    }
    json::array rows;
    for (const auto& r : log->recent(audit_limit(target))) {
      rows.push_back(access::audit_json(r));
    }
    o["rows"] = std::move(rows);
  }
  return json_response(req, 200, json::serialize(o));
}

}  // namespace mcpgw::downstream
