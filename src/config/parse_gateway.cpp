// Parsing the `gateway` section: listen, limits, timeouts, auth (keys, JWT), audit, security
// and per-server options.
#include "config/parse.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <set>

namespace mcpgw::config::detail {

namespace fs = std::filesystem;

namespace {

/// Reads `jwks`: an https:// URL (http:// only on loopback) or a file, relative to `base_dir`.
void parse_jwks(ObjectReader& r, const std::string& base_dir, const EnvLookup& env,
                Diagnostics& diag, JwtConfig& out) {
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
}

/// Reads `algorithms`, with an error for each one the verifier does not support.
void parse_algorithms(ObjectReader& r, Diagnostics& diag, JwtConfig& out) {
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
}

/// Reads `grants`: {grant name: {servers, tools, denyTools}}.
void parse_grants(ObjectReader& r, Diagnostics& diag, JwtConfig& out) {
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
}

/// Reads `gateway.auth.jwt`: where access tokens come from and what they grant.
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
  parse_jwks(r, base_dir, env, diag, out);
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
  parse_algorithms(r, diag, out);
  r.str("subjectClaim", out.subject_claim);
  r.str("grantsClaim", out.grants_claim);
  parse_grants(r, diag, out);
  r.strings("authorizationServers", out.authorization_servers);
  if (out.authorization_servers.empty() && !out.issuer.empty()) {
    out.authorization_servers = {out.issuer};
  }
}

void parse_security(const json::object& obj, Diagnostics& diag, SecurityConfig& out) {
  const std::string path = "gateway.security";
  ObjectReader r(obj, path, diag);
  bool enabled = true;
  r.boolean("enabled", enabled);
  out.enabled = enabled;
  out.explicitly_off = !enabled;
  auto seconds = [&](std::string_view key, Millis& m) {
    std::int64_t s = m.count() / 1000;
    r.positive(key, s, 30 * 24 * 3600);
    m = Millis(s * 1000);
  };
  seconds("scopeIdleS", out.scope_idle);
  seconds("approvalTimeoutS", out.approval_timeout);
  r.str("adminTokenEnv", out.admin_token_env);
  r.str("adminTokenFile", out.admin_token_file);
  std::optional<Approver> approvals;
  parse_approver(r, approvals);
  out.approvals = approvals.value_or(Approver::client);
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

void parse_limits(const json::object& obj, Diagnostics& diag, Limits& out) {
  ObjectReader l(obj, "gateway.limits", diag);
  l.positive("maxBodyBytes", out.max_body_bytes);
  l.positive("maxHeaderBytes", out.max_header_bytes);
  l.positive("maxSessions", out.max_sessions);
  l.positive("maxMessageBytes", out.max_message_bytes);
  l.positive("maxJsonDepth", out.max_json_depth, 10000);
  l.positive("replayEvents", out.replay_events);
  l.positive("maxConnections", out.max_connections);
  l.positive("maxConnectionsPerClient", out.max_connections_per_client);
  l.positive("maxConnectionsPerPrincipal", out.max_connections_per_principal);
  l.positive("maxSessionsPerClient", out.max_sessions_per_client);
  l.positive("maxProcesses", out.max_processes);
  l.positive("maxBackendQueueBytes", out.max_backend_queue_bytes);
  l.positive("memoryBudgetBytes", out.memory_budget_bytes);
  l.positive("authFailuresPerMin", out.auth_failures_per_min);
}

void parse_timeouts(const json::object& obj, Diagnostics& diag, Timeouts& out) {
  ObjectReader l(obj, "gateway.timeouts", diag);
  l.millis("callMs", out.call);
  l.millis("listMs", out.list);
  l.millis("startupMs", out.startup);
  l.millis("sessionIdleMs", out.session_idle);
  l.millis("connectionIdleMs", out.connection_idle);
  l.millis("headerMs", out.header);
  l.millis("bodyMs", out.body);
  l.millis("writeMs", out.write);
  l.millis("keepAliveMs", out.keep_alive);
  l.millis("drainMs", out.drain);
  l.millis("restartMaxBackoffMs", out.restart_max_backoff);
  l.millis("connectMs", out.connect);
}

void parse_cluster(const json::object& obj, const std::string& base_dir, const EnvLookup& env,
                   Diagnostics& diag, ClusterConfig& out) {
  ObjectReader c(obj, "gateway.cluster", diag);
  c.str("sessionKeyFile", out.session_key_file);
  c.str("replica", out.replica);
  std::int64_t max_age = out.session_max_age.count() / 1000;
  c.positive("sessionMaxAgeS", max_age, 30 * 24 * 3600);
  out.session_max_age = Millis(max_age * 1000);
  c.str("redis", out.redis);
  c.millis("redisTimeoutMs", out.redis_timeout);
  std::string down = "refuse";
  c.choice("whenRedisDown", down, {"refuse", "local"});
  out.redis_down_local = down == "local";
  if (!out.session_key_file.empty()) {
    out.session_key_file = (fs::path(base_dir) / out.session_key_file).lexically_normal().string();
  }
  expand(out.redis, "gateway.cluster.redis", env, diag);
  if (!out.redis.empty() && !out.redis.starts_with("redis://")) {
    diag.error("gateway.cluster.redis", "expected redis://[:password@]host[:port][/db]");
  }
}

void parse_auth(const json::object& obj, const std::string& base_dir, const EnvLookup& env,
                Diagnostics& diag, AuthConfig& out) {
  ObjectReader l(obj, "gateway.auth", diag);
  if (obj.contains("mode")) {
    l.str("mode", out.mode);
    out.mode_set = true;
    if (auto why = check_auth_mode(out.mode); !why.empty()) {
      diag.error("gateway.auth.mode", why);
    }
  }
  std::string store;
  l.str("store", store);
  expand(store, "gateway.auth.store", env, diag);
  if (!store.empty()) {
    out.store = store_is_url(store) || !fs::path(store).is_relative()
                    ? store
                    : (fs::path(base_dir) / store).lexically_normal().string();
  }
  if (const auto* j = as_object(l.get("jwt"), "gateway.auth.jwt", diag)) {
    out.jwt_set = true;
    parse_jwt(*j, base_dir, env, diag, out.jwt);
  }
  if (auto why = check_auth(out); !why.empty()) {
    diag.error("gateway.auth", why);
  }
  if (out.jwt_set && !out.uses_jwt() && out.mode_set) {
    diag.warn("gateway.auth.jwt", fmt::format("ignored: auth mode is \"{}\"", out.mode));
  }
}

/// `gateway.store` (the PostgreSQL store the replicas share), `storeTimeoutMs` and
/// `whenStoreDown`. The store holds the keys unless gateway.auth.store names another, and the
/// audit trail unless gateway.audit.store does (config.cpp).
void parse_store(ObjectReader& r, const EnvLookup& env, Diagnostics& diag, GatewayConfig& g) {
  r.str("store", g.store);
  expand(g.store, "gateway.store", env, diag);
  if (!g.store.empty() && !store_is_url(g.store)) {
    diag.error("gateway.store", "expected postgres://[user[:password]@]host[:port]/database");
  }
  r.millis("storeTimeoutMs", g.auth.store_timeout);
  std::string down = "refuse";
  r.choice("whenStoreDown", down, {"refuse", "cached"});
  g.auth.store_down_cached = down == "cached";
  if (!g.store.empty() && g.auth.store.empty()) {
    g.auth.store = g.store;
  }
}

void parse_audit(const json::object& obj, const std::string& base_dir, const EnvLookup& env,
                 Diagnostics& diag, AuditConfig& out) {
  ObjectReader l(obj, "gateway.audit", diag);
  if (obj.contains("enabled")) {
    bool on = false;
    l.boolean("enabled", on);
    out.enabled = on;
  }
  std::string store;
  l.str("store", store);
  expand(store, "gateway.audit.store", env, diag);
  if (!store.empty()) {
    out.store_set = true;
    out.store = store_is_url(store) || !fs::path(store).is_relative()
                    ? store
                    : (fs::path(base_dir) / store).lexically_normal().string();
  }
  l.positive("queue", out.queue);
  std::string full;
  l.str("whenFull", full);
  if (full == "drop") {
    out.block_when_full = false;
  } else if (!full.empty() && full != "block") {
    diag.error("gateway.audit.whenFull", fmt::format("expected \"block\" or \"drop\", got \"{}\"", full));
  }
  l.boolean("arguments", out.arguments);
}

/// `gateway.vault`: where its key comes from (its store follows gateway.store, config.cpp).
void parse_vault(const json::object& obj, const std::string& base_dir, Diagnostics& diag,
                 VaultConfig& out) {
  ObjectReader v(obj, "gateway.vault", diag);
  v.str("keyFile", out.key_file);
  v.str("keyEnv", out.key_env);
  if (!out.key_file.empty()) {
    out.key_file = (fs::path(base_dir) / out.key_file).lexically_normal().string();
  }
}

/// `gateway.tracing`.
void parse_tracing(const json::object& obj, const std::string& base_dir, Diagnostics& diag,
                   const EnvLookup& env, TracingConfig& t) {
  ObjectReader r(obj, "gateway.tracing", diag);
  r.str("endpoint", t.endpoint);
  expand(t.endpoint, r.path("endpoint"), env, diag);
  if (!t.endpoint.empty() && t.endpoint.rfind("http://", 0) != 0 &&
      t.endpoint.rfind("https://", 0) != 0) {
    diag.error(r.path("endpoint"), fmt::format("expected an http:// or https:// URL (the "
                                               "collector's …/v1/traces), got \"{}\"",
                                               t.endpoint));
  }
  if (const auto* v = r.get("sampleRatio")) {
    if (!v->is_number() || v->to_number<double>() < 0 || v->to_number<double>() > 1) {
      diag.error(r.path("sampleRatio"), "expected a number from 0 to 1");
    } else {
      t.sample_ratio = v->to_number<double>();
    }
  }
  r.string_map("headers", t.headers);
  for (auto& [k, v] : t.headers) {
    expand(v, join_path(r.path("headers"), k), env, diag);
  }
  r.positive("queue", t.queue, 1'000'000);
  r.positive("batch", t.batch, 100'000);
  r.millis("flushMs", t.flush);
  r.str("serviceName", t.service_name);
  parse_tls(r, base_dir, diag, t.tls_ca_file, t.tls_insecure);
  r.finish();
}

}  // namespace

void parse_gateway(const json::object& obj, const std::string& base_dir, Diagnostics& diag,
                   const EnvLookup& env, GatewayConfig& g, OptionsByServer& server_opts) {
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
  read_public_url(r, diag, g.public_url);
  r.str("logLevel", g.log_level);
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn",
                                                "error", "critical", "off"};
  if (kLevels.count(g.log_level) == 0) {
    diag.error("gateway.logLevel", fmt::format("unknown level \"{}\" (expected trace, debug, "
                                               "info, warn, error, critical or off)", g.log_level));
  }
  r.str("logFormat", g.log_format);
  if (g.log_format != "text" && g.log_format != "json") {
    diag.error("gateway.logFormat",
               fmt::format("expected \"text\" or \"json\", got \"{}\"", g.log_format));
  }
  r.boolean("accessLog", g.access_log);
  r.boolean("watch", g.watch);
  if (const auto* o = as_object(r.get("limits"), "gateway.limits", diag)) {
    parse_limits(*o, diag, g.limits);
  }
  if (const auto* o = as_object(r.get("timeouts"), "gateway.timeouts", diag)) {
    parse_timeouts(*o, diag, g.timeouts);
  }
  if (const auto* o = as_object(r.get("auth"), "gateway.auth", diag)) {
    parse_auth(*o, base_dir, env, diag, g.auth);
  }
  parse_store(r, env, diag, g);
  if (const auto* sec = as_object(r.get("security"), "gateway.security", diag)) {
    parse_security(*sec, diag, g.security);
  }
  if (const auto* o = as_object(r.get("audit"), "gateway.audit", diag)) {
    parse_audit(*o, base_dir, env, diag, g.audit);
  }
  if (const auto* o = as_object(r.get("health"), "gateway.health", diag)) {
    ObjectReader h(*o, "gateway.health", diag);
    h.boolean("probe", g.health.probe);
    h.millis("probeIntervalMs", g.health.probe_interval);
  }
  if (const auto* o = as_object(r.get("metrics"), "gateway.metrics", diag)) {
    ObjectReader m(*o, "gateway.metrics", diag);
    m.boolean("enabled", g.metrics.enabled);
    std::string at;
    m.str("listen", at);
    if (!at.empty() && !parse_listen(at, g.metrics.listen_host, g.metrics.listen_port)) {
      diag.error("gateway.metrics.listen", fmt::format("expected HOST:PORT, got \"{}\"", at));
    }
  }
  if (const auto* o = as_object(r.get("tracing"), "gateway.tracing", diag)) {
    parse_tracing(*o, base_dir, diag, env, g.tracing);
  }
  if (const auto* o = as_object(r.get("cluster"), "gateway.cluster", diag)) {
    parse_cluster(*o, base_dir, env, diag, g.cluster);
  }
  if (const auto* o = as_object(r.get("vault"), "gateway.vault", diag)) {
    parse_vault(*o, base_dir, diag, g.vault);
  }
  if (const auto* servers = as_object(r.get("servers"), "gateway.servers", diag)) {
    for (const auto& kv : *servers) {
      const std::string path = join_path("gateway.servers", kv.key());
      if (const auto* so = as_object(&kv.value(), path, diag)) {
        ServerOptions opts;
        parse_server_options(*so, path, base_dir, env, diag, opts);
        server_opts[std::string(kv.key())] = {opts, path};
      }
    }
  }
}

}  // namespace mcpgw::config::detail
