#include "config/config.hpp"
#include "config/parse.hpp"
#include "config/json_text.hpp"
#include "config/litellm.hpp"
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

namespace {

constexpr std::string_view kUserRef = "${user:";

/// Calls `each(begin, end, name)` for each `${user:NAME}` of `text`.
template <class F>
void for_user_refs(std::string_view text, F each) {
  for (auto at = text.find(kUserRef); at != std::string_view::npos;
       at = text.find(kUserRef, at + 1)) {
    const auto close = text.find('}', at);
    if (close == std::string_view::npos) {
      return;
    }
    const auto from = at + kUserRef.size();
    each(at, close + 1, text.substr(from, close - from));
  }
}

}  // namespace

std::string check_user_secret_name(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return "a vault entry's name has 1 to 64 characters";
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) {
      return fmt::format("\"{}\": a vault entry's name may hold letters, digits, '_', '.' and "
                         "'-' only", name);
    }
  }
  return "";
}

void user_refs(std::string_view text, std::vector<std::string>& names) {
  for_user_refs(text, [&](std::size_t, std::size_t, std::string_view name) {
    names.emplace_back(name);
  });
}

std::string fill_user_refs(std::string_view text,
                           const std::map<std::string, std::string>& values) {
  std::string out;
  std::size_t done = 0;
  for_user_refs(text, [&](std::size_t begin, std::size_t end, std::string_view name) {
    out.append(text.substr(done, begin - done));
    if (auto it = values.find(std::string(name)); it != values.end()) {
      out += it->second;
    }
    done = end;
  });
  out.append(text.substr(done));
  return out;
}

std::optional<std::string> expand_env(std::string_view text, const EnvLookup& env,
                                      std::string* missing, bool keep_user_refs) {
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
      if (keep_user_refs && expr.starts_with("user:")) {
        out.append(text.substr(i, close + 1 - i));
        i = close + 1;
        continue;
      }
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
bool store_is_url(std::string_view store) noexcept {
  return store.starts_with("postgres://") || store.starts_with("postgresql://");
}

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

namespace detail {

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

void expand(std::string& field, const std::string& path, const EnvLookup& env, Diagnostics& diag,
            bool keep_user_refs) {
  std::string missing;
  if (auto v = expand_env(field, env, &missing, keep_user_refs)) {
    field = std::move(*v);
  } else {
    diag.error(path, fmt::format("environment variable {} is not set (use ${{{}:-default}} for a "
                                 "default)", missing, missing));
  }
}

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


/// One entry of mcpServers, with its gateway.servers options; added to `cfg` unless disabled.
void parse_one_server(std::string_view key, const json::value& value, const std::string& base_dir,
                      const EnvLookup& env, const OptionsByServer& server_opts, Diagnostics& diag,
                      Config& cfg) {
  const std::string name(key);
  const std::string path = join_path("mcpServers", name);
  if (auto why = mcp::Naming::check_server_name(name, cfg.gateway.separator); !why.empty()) {
    diag.error(path, why);
  }
  const auto* obj = as_object(&value, path, diag);
  if (obj == nullptr) {
    return;
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
    sc.options.isolation =
        sc.transport == Transport::stdio ? Isolation::shared : Isolation::session;
  }
  if (auto it = server_opts.find(name); it != server_opts.end()) {
    check_upstream_auth(sc, it->second.second, cfg.gateway.auth, diag);
    if (sc.options.auth.type == UpstreamAuth::Type::token_exchange &&
        sc.options.auth.resource.empty()) {
      sc.options.auth.resource = sc.url;  // the server this token is for (RFC 8707)
    }
  }
  if (!sc.user_secrets.empty() && sc.options.isolation != Isolation::session) {
    diag.error(join_path(path, "env"),
               fmt::format("${{user:{}}} is each caller's own value: the server needs "
                           "gateway.servers.{}.isolation \"session\" (a shared process serves "
                           "every user)", sc.user_secrets.front(), name));
  }
  if (!disabled) {
    cfg.servers.push_back(std::move(sc));
  }
}

}  // namespace detail

namespace {

bool labelled(const TrustLabels& t) {
  return !(t == TrustLabels{});
}

/// `${user:NAME}` needs callers who are told apart.
void check_user_secrets(const Config& cfg, Diagnostics& diag) {
  if (cfg.gateway.auth.mode != "none") {
    return;
  }
  for (const auto& server : cfg.servers) {
    if (!server.user_secrets.empty()) {
      diag.error(join_path(join_path("mcpServers", server.name), "env"),
                 fmt::format("${{user:{}}} reads the caller's own vault entry, but "
                             "gateway.auth.mode is \"none\": every caller is the same "
                             "anonymous user (use keys or jwt)", server.user_secrets.front()));
      return;
    }
  }
}

/// Trust labels, approvers and strict pins are a policy: they turn the gate on (with its
/// default chain) unless the file says `security.enabled: false`.
void imply_security(Config& cfg) {
  auto& sec = cfg.gateway.security;
  for (const auto& server : cfg.servers) {
    if (server.options.strict_pins) {
      sec.strict_pins.insert(server.name);
    }
  }
  if (sec.enabled || sec.explicitly_off) {
    return;
  }
  for (const auto& server : cfg.servers) {
    const auto& o = server.options;
    bool any = labelled(o.trust);
    for (const auto& [tool, labels] : o.tool_trust) {
      any = any || labelled(labels);
    }
    const char* what = any ? "trust labels" : "gate settings";
    if (any || o.approvals || !o.tool_approvals.empty() || o.strict_pins) {
      sec.enabled = true;
      sec.turned_on_by = fmt::format("{} on gateway.servers.{}", what, server.name);
      return;
    }
  }
}

}  // namespace

std::string security_reason(const SecurityConfig& security) {
  if (security.explicitly_off) {
    return "off (gateway.security.enabled is false: trust labels are not enforced)";
  }
  if (!security.enabled) {
    return "off (no gateway.security and no trust labels)";
  }
  if (!security.turned_on_by.empty()) {
    return fmt::format("on because of the {} (gateway.security.enabled: false turns it off)",
                       security.turned_on_by);
  }
  return "";
}

std::optional<Config> parse(const json::value& doc, const std::string& base_dir, Diagnostics& diag,
                            const EnvLookup& env) {
  using namespace detail;
  Config cfg;
  cfg.base_dir = base_dir;
  const json::object* root = as_object(&doc, "(top level)", diag);
  if (root == nullptr) {
    return std::nullopt;
  }
  detail::OptionsByServer server_opts;
  {
    ObjectReader r(*root, "", diag);
    // A claude_desktop_config.json also holds the app's own settings: served as it is, with
    // those named and ignored. Any other unknown key stays an error (a typo in "gateway"
    // must not turn a policy off).
    for (const char* app_key : {"globalShortcut", "preferences", "theme", "telemetry",
                                "isUsingBuiltInNodeForMcp"}) {
      if (r.ignore(app_key) != nullptr) {
        diag.warn(app_key, "a Claude Desktop setting; mcpgw ignores it");
      }
    }
    if (const auto* g = as_object(r.get("gateway"), "gateway", diag)) {
      parse_gateway(*g, base_dir, diag, env, cfg.gateway, server_opts);
    }
    const json::value* servers = r.get("mcpServers");
    if (servers == nullptr) {
      diag.error("mcpServers", "missing (the servers to serve, as in Claude Code's .mcp.json)");
    } else if (const auto* so = as_object(servers, "mcpServers", diag)) {
      for (const auto& kv : *so) {
        parse_one_server(kv.key(), kv.value(), base_dir, env, server_opts, diag, cfg);
      }
    }
  }
  for (const auto& [name, opts] : server_opts) {
    if (!root->contains("mcpServers") || !root->at("mcpServers").is_object() ||
        !root->at("mcpServers").get_object().contains(name)) {
      diag.error(opts.second, fmt::format("no server named \"{}\" in mcpServers", name));
    }
  }
  imply_security(cfg);
  if (cfg.gateway.auth.store.empty()) {
    cfg.gateway.auth.store = (fs::path(base_dir) / "mcpgw.db").lexically_normal().string();
  }
  // The audit trail and the pins go to the shared store, else beside the keys.
  const std::string beside = store_is_url(cfg.gateway.auth.store)
                                 ? (fs::path(base_dir) / "mcpgw.db").lexically_normal().string()
                                 : cfg.gateway.auth.store;
  if (cfg.gateway.audit.store.empty()) {
    cfg.gateway.audit.store =
        cfg.gateway.store.empty() ? store_beside(beside, "audit") : cfg.gateway.store;
  }
  cfg.gateway.vault.store =
      cfg.gateway.store.empty() ? store_beside(beside, "vault") : cfg.gateway.store;
  check_user_secrets(cfg, diag);
  if (cfg.gateway.security.pin_store.empty()) {
    cfg.gateway.security.pin_store =
        cfg.gateway.store.empty() ? store_beside(beside, "pins") : cfg.gateway.store;
  }
  cfg.gateway.security.store_timeout = cfg.gateway.auth.store_timeout;
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
  const std::string base = fs::absolute(fs::path(path)).parent_path().lexically_normal().string();
  if (is_yaml_path(path)) {
    return parse_litellm(ss.str(), path, base, diag, env);  // LiteLLM's config.yaml
  }
  auto doc = parse_json_text(ss.str(), path, diag);
  if (!doc) {
    return std::nullopt;
  }
  return parse(*doc, base, diag, env);
}

}  // namespace mcpgw::config
