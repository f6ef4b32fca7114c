#include "config/config.hpp"
#include "config/reader.hpp"

#include "jsonrpc/message.hpp"
#include "mcp/naming.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace mcpgw::config {

namespace json = boost::json;
namespace fs = std::filesystem;

const char* to_string(Transport t) noexcept {
  switch (t) {
    case Transport::stdio: return "stdio";
    case Transport::http: return "http";
    case Transport::sse: return "sse";
  }
  return "?";
}

const char* to_string(Isolation i) noexcept {
  return i == Isolation::session ? "session" : "shared";
}

const ServerConfig* Config::find(std::string_view name) const noexcept {
  for (const auto& s : servers) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

void Diagnostics::error(std::string_view path, std::string_view message) {
  errors.push_back(fmt::format("{}: {}", path, message));
}

void Diagnostics::warn(std::string_view path, std::string_view message) {
  warnings.push_back(fmt::format("{}: {}", path, message));
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str()); v != nullptr) {
      return std::string(v);
    }
    return std::nullopt;
  };
}

std::optional<std::string> expand_env(std::string_view text, const EnvLookup& env,
                                      std::string* missing) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      const auto close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        out.append(text.substr(i));
        break;
      }
      std::string_view expr = text.substr(i + 2, close - i - 2);
      std::optional<std::string> fallback;
      if (auto dflt = expr.find(":-"); dflt != std::string_view::npos) {
        fallback = std::string(expr.substr(dflt + 2));
        expr = expr.substr(0, dflt);
      }
      if (auto v = env(std::string(expr)); v && !v->empty()) {
        out += *v;
      } else if (fallback) {
        out += *fallback;
      } else if (v) {
        // Set but empty: empty string.
      } else {
        if (missing != nullptr) {
          *missing = std::string(expr);
        }
        return std::nullopt;
      }
      i = close + 1;
      continue;
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

bool parse_listen(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view h;
  std::string_view p;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) {
      return false;  // bare IPv6 must be bracketed
    }
  }
  if (p.empty() || p.size() > 5) {
    return false;
  }
  unsigned value = 0;
  for (char c : p) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) {
    return false;
  }
  host = h.empty() ? "127.0.0.1" : std::string(h);
  port = static_cast<std::uint16_t>(value);
  return true;
}

/// "mcpgw.db" → "mcpgw.audit.db": a file of its own beside the key store (a busy audit trail
/// must not make the key store look changed).
std::string store_beside(const std::string& key_store, std::string_view what) {
  const std::string suffix = ".db";
  if (key_store.size() > suffix.size() &&
      key_store.compare(key_store.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return fmt::format("{}.{}.db", key_store.substr(0, key_store.size() - suffix.size()), what);
  }
  return fmt::format("{}.{}", key_store, what);
}

const char* to_string(Tri t) noexcept {
  switch (t) {
    case Tri::no:
      return "false";
    case Tri::yes:
      return "true";
    case Tri::forbidden:
      return "forbidden";
    case Tri::unset:
      break;
  }
  return "unset";
}

std::string check_auth_mode(std::string& mode) {
  if (mode == "jwt,keys") {
    mode = "keys,jwt";
  }
  if (mode == "none" || mode == "keys" || mode == "jwt" || mode == "keys,jwt") {
    return {};
  }
  return fmt::format("unknown auth mode \"{}\" (expected none, keys, jwt or keys,jwt)", mode);
}

std::string check_auth(const AuthConfig& auth) {
  if (!auth.uses_jwt()) {
    return {};
  }
  const auto& j = auth.jwt;
  if (j.issuer.empty() || j.audiences.empty() || j.jwks.empty()) {
    return "auth mode jwt needs gateway.auth.jwt with issuer, audience (or resource) and jwks";
  }
  return {};
}

bool is_loopback_host(std::string_view host) {
  if (host.size() == 9 && std::equal(host.begin(), host.end(), "localhost", [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
      })) {
    return true;
  }
  // An address literal only: "127.attacker.example" is a name anyone can register.
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host.size() >= INET6_ADDRSTRLEN) {
    return false;
  }
  const std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) ||
           (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

std::string join_path(std::string_view base, std::string_view key) {
  if (base.empty()) {
    return std::string(key);
  }
  return fmt::format("{}.{}", base, key);
}

std::string describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "?";
}

namespace {

const json::object* as_object(const json::value* v, const std::string& path, Diagnostics& diag) {
  if (v == nullptr) {
    return nullptr;
  }
  if (!v->is_object()) {
    diag.error(path, fmt::format("expected an object, got {}", describe(*v)));
    return nullptr;
  }
  return &v->get_object();
}

void expand(std::string& field, const std::string& path, const EnvLookup& env, Diagnostics& diag) {
  std::string missing;
  if (auto v = expand_env(field, env, &missing)) {
    field = std::move(*v);
  } else {
    diag.error(path, fmt::format("environment variable {} is not set (use ${{{}:-default}} for a "
                                 "default)", missing, missing));
  }
}

/// `tls: {caFile, insecure}` of a server or of a JWKS URL; caFile relative to the config.
void parse_tls(ObjectReader& r, const std::string& base_dir, Diagnostics& diag,
               std::string& ca_file, bool& insecure) {
  if (const auto* tls = as_object(r.get("tls"), r.path("tls"), diag)) {
    ObjectReader t(*tls, r.path("tls"), diag);
    t.str("caFile", ca_file);
    t.boolean("insecure", insecure);
    if (!ca_file.empty() && fs::path(ca_file).is_relative()) {
      ca_file = (fs::path(base_dir) / ca_file).lexically_normal().string();
    }
  }
}

void parse_jwt(const json::object& obj, const std::string& base_dir, const EnvLookup& env,
               Diagnostics& diag, JwtConfig& out) {
  const std::string path = "gateway.auth.jwt";
  ObjectReader r(obj, path, diag);
  r.str("issuer", out.issuer);
  expand(out.issuer, r.path("issuer"), env, diag);
  if (const auto* v = r.get("audience")) {
    if (v->is_string()) {
      out.audiences = {std::string(v->get_string())};
    } else {
      r.strings("audience", out.audiences);
    }
  }
  r.str("resource", out.resource);
  expand(out.resource, r.path("resource"), env, diag);
  if (out.audiences.empty() && !out.resource.empty()) {
    out.audiences = {out.resource};  // RFC 8707: the token is for this resource
  }
  for (auto& a : out.audiences) {
    expand(a, r.path("audience"), env, diag);
  }
  r.str("jwks", out.jwks);
  expand(out.jwks, r.path("jwks"), env, diag);
  if (out.jwks.rfind("https://", 0) == 0 || out.jwks.rfind("http://", 0) == 0) {
    out.jwks_is_url = true;
    if (out.jwks.rfind("http://", 0) == 0) {
      // Keys fetched in clear could be swapped by anyone on the path: loopback only.
      std::string_view rest = std::string_view(out.jwks).substr(7);
      std::string_view host = rest.substr(0, rest.find_first_of(":/"));
      if (!rest.empty() && rest.front() == '[') {
        host = rest.substr(0, rest.find(']') + 1);
      }
      if (!is_loopback_host(host)) {
        diag.error(r.path("jwks"), "a JWKS URL must be https:// (http:// only on loopback)");
      }
    }
  } else if (!out.jwks.empty() && fs::path(out.jwks).is_relative()) {
    out.jwks = (fs::path(base_dir) / out.jwks).lexically_normal().string();
  }
  parse_tls(r, base_dir, diag, out.tls_ca_file, out.tls_insecure);
  std::int64_t refresh_s = out.refresh.count() / 1000;
  r.positive("refreshS", refresh_s, 7 * 24 * 3600);
  out.refresh = Millis(refresh_s * 1000);
  std::int64_t cooldown_s = out.refetch_cooldown.count() / 1000;
  r.positive("refetchCooldownS", cooldown_s, 3600);
  out.refetch_cooldown = Millis(cooldown_s * 1000);
  if (const auto* v = r.get("leewayS")) {
    if (v->is_int64() && v->get_int64() >= 0 && v->get_int64() <= 3600) {
      out.leeway_s = v->get_int64();
    } else {
      diag.error(r.path("leewayS"), "expected an integer from 0 to 3600");
    }
  }
  r.strings("algorithms", out.algorithms);
  for (const auto& a : out.algorithms) {
    static const std::set<std::string> kKnown = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                                 "PS512", "ES256", "ES384"};
    if (kKnown.count(a) == 0) {
      diag.error(r.path("algorithms"),
                 fmt::format("unsupported algorithm \"{}\" (RS256/384/512, PS256/384/512, "
                             "ES256/384)", a));
    }
  }
  r.str("subjectClaim", out.subject_claim);
  r.str("grantsClaim", out.grants_claim);
  if (const auto* gs = as_object(r.get("grants"), r.path("grants"), diag)) {
    for (const auto& kv : *gs) {
      const std::string gpath = join_path(r.path("grants"), kv.key());
      if (const auto* g = as_object(&kv.value(), gpath, diag)) {
        ObjectReader gr(*g, gpath, diag);
        JwtGrant grant;
        gr.strings("servers", grant.servers);
        gr.strings("tools", grant.tools);
        gr.strings("denyTools", grant.deny_tools);
        out.grants[std::string(kv.key())] = std::move(grant);
      }
    }
  }
  r.strings("authorizationServers", out.authorization_servers);
  if (out.authorization_servers.empty() && !out.issuer.empty()) {
    out.authorization_servers = {out.issuer};
  }
}

void parse_server(const std::string& name, const json::object& obj, const std::string& path,
                  const std::string& base_dir, const EnvLookup& env, Diagnostics& diag,
                  ServerConfig& out, bool& disabled) {
  ObjectReader r(obj, path, diag);
  out.name = name;
  std::string type;
  r.str("type", type);
  r.str("command", out.command);
  r.strings("args", out.args);
  r.string_map("env", out.env);
  r.str("cwd", out.cwd);
  r.str("url", out.url);
  r.string_map("headers", out.headers);
  r.boolean("disabled", disabled);

  if (type.empty()) {
    type = out.url.empty() ? "stdio" : "http";
  }
  if (type == "stdio") {
    out.transport = Transport::stdio;
  } else if (type == "http") {
    out.transport = Transport::http;
  } else if (type == "sse") {
    out.transport = Transport::sse;
  } else if (type == "streamable-http" || type == "streamableHttp" || type == "streamable_http") {
    diag.error(r.path("type"), fmt::format("\"{}\" is not a transport type; Streamable HTTP "
                                           "servers use \"http\"", type));
  } else {
    diag.error(r.path("type"),
               fmt::format("unknown transport \"{}\" (expected stdio, http or sse)", type));
  }

  if (out.transport == Transport::stdio) {
    if (out.command.empty()) {
      diag.error(r.path("command"), "a stdio server needs a command");
    }
    if (!out.url.empty() || !out.headers.empty()) {
      diag.error(path, "a stdio server takes command/args/env/cwd, not url/headers");
    }
    expand(out.command, r.path("command"), env, diag);
    for (std::size_t i = 0; i < out.args.size(); ++i) {
      expand(out.args[i], fmt::format("{}[{}]", r.path("args"), i), env, diag);
    }
    for (auto& [k, v] : out.env) {
      expand(v, join_path(r.path("env"), k), env, diag);
    }
    expand(out.cwd, r.path("cwd"), env, diag);
    fs::path cwd = out.cwd.empty() ? fs::path(base_dir) : fs::path(out.cwd);
    if (cwd.is_relative()) {
      cwd = fs::path(base_dir) / cwd;
    }
    out.cwd = cwd.lexically_normal().string();
    // A relative command path (one with a slash) is relative to the server's cwd.
    if (out.command.find('/') != std::string::npos && fs::path(out.command).is_relative()) {
      out.command = (fs::path(out.cwd) / out.command).lexically_normal().string();
    }
  } else {
    if (out.url.empty()) {
      diag.error(r.path("url"), fmt::format("a {} server needs a url", to_string(out.transport)));
    } else if (out.url.rfind("http://", 0) != 0 && out.url.rfind("https://", 0) != 0) {
      diag.error(r.path("url"), "expected an http:// or https:// URL");
    }
    if (!out.command.empty() || !out.args.empty()) {
      diag.error(path, fmt::format("a {} server takes url/headers, not command/args",
                                   to_string(out.transport)));
    }
    expand(out.url, r.path("url"), env, diag);
    for (auto& [k, v] : out.headers) {
      expand(v, join_path(r.path("headers"), k), env, diag);
    }
  }
}

void parse_trust(const json::value* v, const std::string& path, Diagnostics& diag,
                 TrustLabels& out) {
  const auto* obj = as_object(v, path, diag);
  if (obj == nullptr) {
    return;
  }
  ObjectReader r(*obj, path, diag);
  auto label = [&](std::string_view key, Tri& t) {
    const json::value* x = r.get(key);
    if (x == nullptr) {
      return;
    }
    if (x->is_bool()) {
      t = x->get_bool() ? Tri::yes : Tri::no;
    } else if (x->is_string() && x->get_string() == "forbidden") {
      t = Tri::forbidden;
    } else {
      diag.error(r.path(key), fmt::format("expected true, false or \"forbidden\", got {}",
                                          describe(*x)));
    }
  };
  label("public_source", out.public_source);
  label("secret_data", out.secret_data);
  label("public_sink", out.public_sink);
  label("dangerous_writes", out.dangerous_writes);
}

void parse_server_options(const json::object& obj, const std::string& path,
                          const std::string& base_dir, Diagnostics& diag, ServerOptions& out) {
  ObjectReader r(obj, path, diag);
  std::string isolation;
  r.str("isolation", isolation);
  bool shareable = false;
  const bool has_shareable = obj.contains("shareable");
  r.boolean("shareable", shareable);
  if (isolation == "session") {
    out.isolation = Isolation::session;
    out.isolation_set = true;
  } else if (isolation == "shared") {
    out.isolation = Isolation::shared;
    out.isolation_set = true;
  } else if (!isolation.empty()) {
    diag.error(r.path("isolation"),
               fmt::format("expected \"shared\" or \"session\", got \"{}\"", isolation));
  }
  if (has_shareable) {
    const Isolation wanted = shareable ? Isolation::shared : Isolation::session;
    if (out.isolation_set && out.isolation != wanted) {
      diag.error(r.path("shareable"), "contradicts \"isolation\"");
    }
    out.isolation = wanted;
    out.isolation_set = true;
  }
  if (obj.contains("callTimeoutMs")) {
    Millis ms{1};
    r.millis("callTimeoutMs", ms);
    out.call_timeout = ms;
  }
  r.boolean("forwardAuthorization", out.forward_authorization);
  r.positive("maxProcesses", out.max_processes);
  parse_tls(r, base_dir, diag, out.tls_ca_file, out.tls_insecure);
  parse_trust(r.get("trust"), r.path("trust"), diag, out.trust);
  if (const auto* tools = as_object(r.get("tools"), r.path("tools"), diag)) {
    for (const auto& kv : *tools) {
      const std::string tpath = join_path(r.path("tools"), kv.key());
      if (const auto* t = as_object(&kv.value(), tpath, diag)) {
        ObjectReader tr(*t, tpath, diag);
        parse_trust(tr.get("trust"), tr.path("trust"), diag,
                    out.tool_trust[std::string(kv.key())]);
      }
    }
  }
}

void parse_security(const json::object& obj, Diagnostics& diag, SecurityConfig& out) {
  const std::string path = "gateway.security";
  ObjectReader r(obj, path, diag);
  out.enabled = true;
  auto seconds = [&](std::string_view key, Millis& m) {
    std::int64_t s = m.count() / 1000;
    r.positive(key, s, 30 * 24 * 3600);
    m = Millis(s * 1000);
  };
  seconds("scopeIdleS", out.scope_idle);
  seconds("approvalTimeoutS", out.approval_timeout);
  r.str("adminTokenEnv", out.admin_token_env);
  r.str("adminTokenFile", out.admin_token_file);
  if (const auto* v = r.get("filters")) {
    if (!v->is_array()) {
      diag.error(r.path("filters"), fmt::format("expected an array, got {}", describe(*v)));
      return;
    }
    std::size_t i = 0;
    for (const auto& item : v->get_array()) {
      const std::string fpath = fmt::format("{}[{}]", r.path("filters"), i++);
      const auto* f = as_object(&item, fpath, diag);
      if (f == nullptr) {
        continue;
      }
      FilterConfig fc;
      fc.path = fpath;
      fc.settings = *f;
      const auto* type = f->if_contains("type");
      if (type == nullptr || !type->is_string()) {
        diag.error(fpath + ".type", "every filter needs a \"type\"");
        continue;
      }
      fc.type = std::string(type->get_string());
      fc.settings.erase("type");
      if (const auto* shadow = f->if_contains("shadow")) {
        if (!shadow->is_bool()) {
          diag.error(fpath + ".shadow", "expected true or false");
        } else {
          fc.shadow = shadow->get_bool();
        }
        fc.settings.erase("shadow");
      }
      out.filters.push_back(std::move(fc));
    }
  }
}

/// Options that make sense only for some servers.
void check_server_options(const ServerConfig& sc, const std::string& path, Diagnostics& diag) {
  const auto& o = sc.options;
  if (sc.transport == Transport::stdio &&
      (o.forward_authorization || o.tls_insecure || !o.tls_ca_file.empty())) {
    diag.error(path, "tls and forwardAuthorization apply to http and sse servers only");
  }
  if (o.forward_authorization && o.isolation_set && o.isolation == Isolation::shared) {
    diag.error(join_path(path, "forwardAuthorization"),
               "needs isolation \"session\": a shared upstream session cannot carry each "
               "client's credential");
  }
  if (!o.tls_ca_file.empty() && sc.url.rfind("https://", 0) != 0) {
    diag.warn(join_path(path, "tls"), "tls applies to https:// URLs only");
  }
  if (o.tls_insecure) {
    diag.warn(join_path(path, "tls.insecure"),
              "certificate verification is off for this server");
  }
}

void parse_gateway(const json::object& obj, const std::string& base_dir, Diagnostics& diag,
                   const EnvLookup& env, GatewayConfig& g,
                   std::map<std::string, std::pair<ServerOptions, std::string>>& server_opts) {
  ObjectReader r(obj, "gateway", diag);
  std::string listen;
  r.str("listen", listen);
  if (!listen.empty() && !parse_listen(listen, g.listen_host, g.listen_port)) {
    diag.error("gateway.listen", fmt::format("expected HOST:PORT, got \"{}\"", listen));
  }
  r.str("separator", g.separator);
  if (g.separator.empty()) {
    diag.error("gateway.separator", "must not be empty");
  }
  r.strings("allowedHosts", g.allowed_hosts);
  r.strings("allowedOrigins", g.allowed_origins);
  r.str("logLevel", g.log_level);
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn",
                                                "error", "critical", "off"};
  if (kLevels.count(g.log_level) == 0) {
    diag.error("gateway.logLevel", fmt::format("unknown level \"{}\" (expected trace, debug, "
                                               "info, warn, error, critical or off)", g.log_level));
  }
  if (const auto* limits = as_object(r.get("limits"), "gateway.limits", diag)) {
    ObjectReader l(*limits, "gateway.limits", diag);
    l.positive("maxBodyBytes", g.limits.max_body_bytes);
    l.positive("maxHeaderBytes", g.limits.max_header_bytes);
    l.positive("maxSessions", g.limits.max_sessions);
    l.positive("maxMessageBytes", g.limits.max_message_bytes);
    l.positive("maxJsonDepth", g.limits.max_json_depth, 10000);
    l.positive("replayEvents", g.limits.replay_events);
    l.positive("maxConnections", g.limits.max_connections);
    l.positive("maxConnectionsPerClient", g.limits.max_connections_per_client);
    l.positive("maxSessionsPerClient", g.limits.max_sessions_per_client);
    l.positive("maxProcesses", g.limits.max_processes);
    l.positive("maxBackendQueueBytes", g.limits.max_backend_queue_bytes);
    l.positive("memoryBudgetBytes", g.limits.memory_budget_bytes);
    l.positive("authFailuresPerMin", g.limits.auth_failures_per_min);
  }
  if (const auto* t = as_object(r.get("timeouts"), "gateway.timeouts", diag)) {
    ObjectReader l(*t, "gateway.timeouts", diag);
    l.millis("callMs", g.timeouts.call);
    l.millis("listMs", g.timeouts.list);
    l.millis("startupMs", g.timeouts.startup);
    l.millis("sessionIdleMs", g.timeouts.session_idle);
    l.millis("connectionIdleMs", g.timeouts.connection_idle);
    l.millis("headerMs", g.timeouts.header);
    l.millis("bodyMs", g.timeouts.body);
    l.millis("writeMs", g.timeouts.write);
    l.millis("keepAliveMs", g.timeouts.keep_alive);
    l.millis("drainMs", g.timeouts.drain);
    l.millis("restartMaxBackoffMs", g.timeouts.restart_max_backoff);
    l.millis("connectMs", g.timeouts.connect);
  }
  if (const auto* a = as_object(r.get("auth"), "gateway.auth", diag)) {
    ObjectReader l(*a, "gateway.auth", diag);
    if (a->contains("mode")) {
      l.str("mode", g.auth.mode);
      g.auth.mode_set = true;
      if (auto why = check_auth_mode(g.auth.mode); !why.empty()) {
        diag.error("gateway.auth.mode", why);
      }
    }
    std::string store;
    l.str("store", store);
    if (!store.empty()) {
      g.auth.store = fs::path(store).is_relative()
                         ? (fs::path(base_dir) / store).lexically_normal().string()
                         : store;
    }
    if (const auto* j = as_object(l.get("jwt"), "gateway.auth.jwt", diag)) {
      g.auth.jwt_set = true;
      parse_jwt(*j, base_dir, env, diag, g.auth.jwt);
    }
    if (auto why = check_auth(g.auth); !why.empty()) {
      diag.error("gateway.auth", why);
    }
    if (g.auth.jwt_set && !g.auth.uses_jwt() && g.auth.mode_set) {
      diag.warn("gateway.auth.jwt", fmt::format("ignored: auth mode is \"{}\"", g.auth.mode));
    }
  }
  if (const auto* sec = as_object(r.get("security"), "gateway.security", diag)) {
    parse_security(*sec, diag, g.security);
  }
  if (const auto* a = as_object(r.get("audit"), "gateway.audit", diag)) {
    ObjectReader l(*a, "gateway.audit", diag);
    if (a->contains("enabled")) {
      bool on = false;
      l.boolean("enabled", on);
      g.audit.enabled = on;
    }
    std::string store;
    l.str("store", store);
    if (!store.empty()) {
      g.audit.store_set = true;
      g.audit.store = fs::path(store).is_relative()
                          ? (fs::path(base_dir) / store).lexically_normal().string()
                          : store;
    }
    l.positive("queue", g.audit.queue);
    std::string full;
    l.str("whenFull", full);
    if (full == "drop") {
      g.audit.block_when_full = false;
    } else if (!full.empty() && full != "block") {
      diag.error("gateway.audit.whenFull", fmt::format("expected \"block\" or \"drop\", got \"{}\"", full));
    }
    l.boolean("arguments", g.audit.arguments);
  }
  if (const auto* servers = as_object(r.get("servers"), "gateway.servers", diag)) {
    for (const auto& kv : *servers) {
      const std::string path = join_path("gateway.servers", kv.key());
      if (const auto* so = as_object(&kv.value(), path, diag)) {
        ServerOptions opts;
        parse_server_options(*so, path, base_dir, diag, opts);
        server_opts[std::string(kv.key())] = {opts, path};
      }
    }
  }
}

}  // namespace

std::optional<Config> parse(const json::value& doc, const std::string& base_dir, Diagnostics& diag,
                            const EnvLookup& env) {
  Config cfg;
  cfg.base_dir = base_dir;
  const json::object* root = as_object(&doc, "(top level)", diag);
  if (root == nullptr) {
    return std::nullopt;
  }
  std::map<std::string, std::pair<ServerOptions, std::string>> server_opts;
  {
    ObjectReader r(*root, "", diag);
    if (const auto* g = as_object(r.get("gateway"), "gateway", diag)) {
      parse_gateway(*g, base_dir, diag, env, cfg.gateway, server_opts);
    }
    const json::value* servers = r.get("mcpServers");
    if (servers == nullptr) {
      diag.error("mcpServers", "missing (the servers to serve, as in Claude Code's .mcp.json)");
    } else if (const auto* so = as_object(servers, "mcpServers", diag)) {
      for (const auto& kv : *so) {
        const std::string name(kv.key());
        const std::string path = join_path("mcpServers", name);
        if (auto why = mcp::Naming::check_server_name(name, cfg.gateway.separator);
            !why.empty()) {
          diag.error(path, why);
        }
        const auto* obj = as_object(&kv.value(), path, diag);
        if (obj == nullptr) {
          continue;
        }
        ServerConfig sc;
        bool disabled = false;
        parse_server(name, *obj, path, base_dir, env, diag, sc, disabled);
        if (auto it = server_opts.find(name); it != server_opts.end()) {
          sc.options = it->second.first;
          check_server_options(sc, it->second.second, diag);
        }
        if (!sc.options.isolation_set) {
          // A remote server's state lives in its upstream session: one per client session.
          sc.options.isolation = sc.transport == Transport::stdio ? Isolation::shared
                                                                  : Isolation::session;
        }
        if (!disabled) {
          cfg.servers.push_back(std::move(sc));
        }
      }
    }
  }
  for (const auto& [name, opts] : server_opts) {
    if (!root->contains("mcpServers") || !root->at("mcpServers").is_object() ||
        !root->at("mcpServers").get_object().contains(name)) {
      diag.error(opts.second, fmt::format("no server named \"{}\" in mcpServers", name));
    }
  }
  if (cfg.gateway.auth.store.empty()) {
    cfg.gateway.auth.store = (fs::path(base_dir) / "mcpgw.db").lexically_normal().string();
  }
  if (cfg.gateway.audit.store.empty()) {
    cfg.gateway.audit.store = store_beside(cfg.gateway.auth.store, "audit");
  }
  if (cfg.gateway.security.pin_store.empty()) {
    cfg.gateway.security.pin_store = store_beside(cfg.gateway.auth.store, "pins");
  }
  if (!is_loopback_host(cfg.gateway.listen_host) && cfg.gateway.allowed_hosts.empty()) {
    diag.warn("gateway.listen",
              fmt::format("listening on {} without gateway.allowedHosts: any Host header is "
                          "accepted", cfg.gateway.listen_host));
  }
  if (!diag.ok()) {
    return std::nullopt;
  }
  return cfg;
}

std::optional<Config> load_file(const std::string& path, Diagnostics& diag, const EnvLookup& env) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diag.error(path, "cannot open the config file");
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  boost::system::error_code ec;
  json::value doc = json::parse(ss.str(), ec, json::storage_ptr(), opts);
  if (ec) {
    diag.error(path, fmt::format("not valid JSON: {}", ec.message()));
    return std::nullopt;
  }
  const std::string base = fs::absolute(fs::path(path)).parent_path().lexically_normal().string();
  return parse(doc, base, diag, env);
}

}  // namespace mcpgw::config
