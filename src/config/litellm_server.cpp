// One entry of a LiteLLM config's `mcp_servers` as an mcpServers entry (and its
// gateway.servers options). LiteLLM's own reading of an entry, which this follows:
//   transport   http (its loader's default), sse or stdio
//   auth_type + auth_value (or authentication_token): the header its MCP client sends:
//               bearer_token → Authorization: Bearer V, api_key → X-API-Key: V,
//               basic → Authorization: Basic base64(V), authorization → Authorization: V,
//               token → Authorization: token V; none sends nothing
//   static_headers  sent on every request, after (so over) the auth header
//   extra_headers   names of client headers forwarded to the server
//   alias       the prefix of the server's tool names instead of its key
#include "config/litellm_yaml.hpp"
#include "config/reader.hpp"
#include "common/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace mcpgw::config::litellm {

namespace {

struct Ignored {
  std::string_view key;
  std::string_view why;
};

constexpr std::string_view kOAuth = "an OAuth setting: mcpgw does not sign in to servers with "
                                    "OAuth yet";
constexpr std::string_view kAws = "an AWS SigV4 setting: mcpgw does not sign requests to servers";

/// LiteLLM settings that mcpgw has no use for, with why. Values are never shown: some are
/// secrets.
constexpr Ignored kIgnored[] = {
    {"description", "mcpgw keeps no description of a server"},
    {"mcp_info", "LiteLLM's metadata about a server; mcpgw keeps none"},
    {"access_groups", "mcpgw grants servers per key: mcpgw keys create --servers NAME"},
    {"allow_all_keys", "an mcpgw key may use every server unless keys create --servers says"},
    {"allowed_params", "mcpgw has no allow-list of a tool's parameters"},
    {"available_on_public_internet", "mcpgw decides who may call by key, not by network"},
    {"env_vars", "LiteLLM's per-user variables; mcpgw has none"},
    {"instructions", "mcpgw passes on the instructions the server gives"},
    {"allow_sampling", "mcpgw passes a server's sampling requests on to the client"},
    {"allow_elicitation", "mcpgw passes a server's elicitation requests on to the client"},
    {"max_concurrent_requests", "mcpgw has no per-server cap on requests"},
    {"spec_version", "mcpgw negotiates the protocol version with each server"},
    {"client_id", kOAuth}, {"client_secret", kOAuth}, {"scopes", kOAuth},
    {"authorization_url", kOAuth}, {"token_url", kOAuth}, {"registration_url", kOAuth},
    {"oauth2_flow", kOAuth}, {"issuer", kOAuth}, {"token_endpoint_auth_method", kOAuth},
    {"dcr_bridge", kOAuth}, {"delegate_auth_to_upstream", kOAuth}, {"oauth_passthrough", kOAuth},
    {"token_exchange_endpoint", kOAuth}, {"audience", kOAuth}, {"subject_token_type", kOAuth},
    {"token_exchange_profile", kOAuth},
    {"aws_access_key_id", kAws}, {"aws_secret_access_key", kAws}, {"aws_session_token", kAws},
    {"aws_region_name", kAws}, {"aws_service_name", kAws}, {"aws_role_name", kAws},
    {"aws_session_name", kAws},
};

/// auth_types LiteLLM has and mcpgw does not map (yet), with what mcpgw lacks for them.
constexpr Ignored kAuthNotMapped[] = {
    {"oauth2", "mcpgw does not fetch OAuth tokens for servers yet"},
    {"aws_sigv4", "mcpgw does not sign requests with AWS SigV4"},
    {"oauth2_token_exchange", "mcpgw does not exchange tokens for servers"},
    {"oauth2_id_jag", "mcpgw does not exchange tokens for servers"},
    {"oauth_delegate", "mcpgw does not run OAuth for servers"},
    {"true_passthrough", "gateway.servers.NAME.forwardAuthorization sends the client's own "
                         "Authorization instead"},
};

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) {
      out += kAlphabet[(n >> shift) & 63];
    }
  }
  if (i < in.size()) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) {
      n |= static_cast<unsigned char>(in[i + 1]) << 8;
    }
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

/// "https://host:port" of a URL: enough to say which server, without a key in its path.
std::string origin_of(std::string_view url) {
  const auto scheme = url.find("://");
  if (scheme == std::string_view::npos) {
    return "…";
  }
  const auto end = url.find_first_of("/?#", scheme + 3);
  return std::string(url.substr(0, end)) + (end == std::string_view::npos ? "" : "/…");
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    out += out.empty() ? s : ", " + s;
  }
  return out;
}

/// LiteLLM's `transport`; a missing one is http (its loader's default), or stdio for an entry
/// with a command and no url. Empty after an error.
std::string transport(Settings& s, Mapping& m) {
  if (auto t = s.str("transport")) {
    if (*t == "http" || *t == "sse" || *t == "stdio") {
      return *t;
    }
    m.diag.error(s.where("transport"),
                 fmt::format("unknown transport \"{}\" (LiteLLM's are http, sse and stdio)", *t));
    return {};
  }
  return s.has("command") && !s.has("url") ? "stdio" : "http";
}

/// Settings that the transport makes meaningless: LiteLLM ignores them, and so does mcpgw.
void ignore_for(Settings& s, const std::string& transport,
                std::initializer_list<std::string_view> keys, Mapping& m) {
  for (auto key : keys) {
    const YAML::Node* v = s.get(key);
    if (v == nullptr || (key == "auth_type" && v->IsScalar() && v->Scalar() == "none")) {
      continue;
    }
    m.diag.warn(s.where(key), fmt::format("ignored for a {} server, as LiteLLM does", transport));
  }
}

/// `basic`: LiteLLM's client base64-encodes "user:password"; its docs show a value already
/// encoded. A value with a colon is the former (a base64 text has none).
std::string basic_credentials(const std::string& value, const std::string& env, Settings& s,
                              std::string_view key, Mapping& m) {
  if (!env.empty()) {
    m.diag.warn(s.where(key), fmt::format("mcpgw sends ${{{}}} after \"Basic \" as it is: it must "
                                          "hold base64(user:password), which LiteLLM computed "
                                          "itself", env));
    return value;
  }
  return value.find(':') != std::string::npos ? base64(value) : value;
}

/// The header of auth_type: {name, value before the secret}; empty name when there is none.
std::pair<std::string, std::string> auth_header(Settings& s, const std::string& type,
                                                Mapping& m) {
  if (type == "bearer_token") return {"Authorization", "Bearer "};
  if (type == "api_key") return {"X-API-Key", ""};
  if (type == "basic") return {"Authorization", "Basic "};
  if (type == "authorization") return {"Authorization", ""};
  if (type == "token") return {"Authorization", "token "};
  for (const auto& [name, why] : kAuthNotMapped) {
    if (name == type) {
      m.diag.warn(s.where("auth_type"), fmt::format("{} is not mapped yet ({}); the server is "
                                                    "imported without auth", type, why));
      return {};
    }
  }
  m.diag.error(s.where("auth_type"),
               fmt::format("unknown auth_type \"{}\" (LiteLLM's are none, api_key, bearer_token, "
                           "basic, authorization, token, oauth2 and others mcpgw does not map)",
                           type));
  return {};
}

/// auth_type and auth_value: the header LiteLLM's client sends, into `headers`.
void map_auth(Settings& s, ServerMap& sm, json::object& headers, Mapping& m) {
  const std::string type = s.str("auth_type").value_or("");
  // LiteLLM reads authentication_token first, then auth_value.
  std::string key = s.has("authentication_token") ? "authentication_token" : "auth_value";
  std::optional<std::string> value = s.str(key);
  if (key == "authentication_token" && s.get("auth_value") != nullptr) {
    m.diag.warn(s.where("auth_value"), "ignored: authentication_token is given, as in LiteLLM");
  }
  if (type.empty() || type == "none") {
    if (value) {
      m.diag.warn(s.where(key), "without an auth_type LiteLLM sends no header; ignored");
    }
    return;
  }
  const auto [header, prefix] = auth_header(s, type, m);
  if (header.empty()) {
    return;
  }
  if (!value || value->empty()) {
    m.diag.warn(s.where("auth_type"), fmt::format("{} without auth_value: no {} header is sent",
                                                  type, header));
    return;
  }
  const std::string env = env_name(*value);
  const std::string secret = type == "basic" ? basic_credentials(*value, env, s, key, m) : *value;
  headers[header] = prefix + secret;
  m.origin(fmt::format("mcpServers.{}.headers.{}", sm.name, header), s.path(key));
  m.note(fmt::format("{}: {} → header {}: {}{}", s.path("auth_type"), type, header, prefix,
                     env.empty() ? "…" : secret));
  if (env.empty()) {
    // Said when serving the file too: the secret sits in a file either way.
    m.diag.warn(s.where(key), "a literal secret (mcpgw import copies it into the JSON config); "
                              "move it to an environment variable: os.environ/NAME, ${NAME} for "
                              "mcpgw");
  }
}

/// static_headers: sent on every request; one named like the auth header replaces it.
void map_static_headers(Settings& s, ServerMap& sm, json::object& headers, Mapping& m) {
  const auto pairs = s.pairs("static_headers");
  if (!pairs) {
    return;
  }
  std::vector<std::string> names;
  for (const auto& [name, node] : *pairs) {
    if (!node.IsScalar()) {
      continue;
    }
    const std::string path = join_path(s.path("static_headers"), name);
    for (auto it = headers.begin(); it != headers.end(); ++it) {
      if (lower(it->key()) == lower(name)) {
        m.diag.warn(path, fmt::format("replaces the {} header of auth_type, as in LiteLLM",
                                      it->key()));
        headers.erase(it);
        break;
      }
    }
    headers[name] = s.value(node, path);
    m.origin(fmt::format("mcpServers.{}.headers.{}", sm.name, name), path);
    names.push_back(name);
  }
  m.note(fmt::format("{} → headers {}", s.path("static_headers"), joined(names)));
}

/// extra_headers: client headers LiteLLM forwards by their own names. mcpgw forwards a client's
/// Authorization with forwardAuthorization, and any other header the client sends as
/// x-mcp-{server}-{header} (passHeaders).
void map_extra_headers(Settings& s, ServerMap& sm, Mapping& m) {
  const auto names = s.strings("extra_headers");
  if (!names) {
    return;
  }
  const std::string options = "gateway.servers." + sm.name;
  json::array pass;
  std::vector<std::string> listed;
  for (const auto& name : *names) {
    if (lower(name) == "authorization") {
      sm.options["forwardAuthorization"] = true;
      m.origin(options + ".forwardAuthorization", s.path("extra_headers"));
      m.note(fmt::format("{}: {} → {}.forwardAuthorization", s.path("extra_headers"), name,
                         options));
    } else {
      pass.emplace_back(lower(name));
      listed.push_back(lower(name));
    }
  }
  if (pass.empty()) {
    return;
  }
  sm.options["passHeaders"] = std::move(pass);
  m.origin(options + ".passHeaders", s.path("extra_headers"));
  m.note(fmt::format("{} → {}.passHeaders: {}", s.path("extra_headers"), options,
                     joined(listed)));
  m.diag.warn(s.where("extra_headers"),
              fmt::format("clients now send these as x-mcp-{}-HEADER (x-mcp-{}-{}: …); LiteLLM "
                          "forwarded them under their own names", sm.name, sm.name, listed[0]));
}

void map_remote(Settings& s, ServerMap& sm, const std::string& transport, Mapping& m) {
  sm.server["type"] = transport;
  const bool given = s.has("transport");
  if (auto url = s.str("url")) {
    sm.server["url"] = *url;
    if (!given && url->size() >= 4 && url->compare(url->size() - 4, 4, "/sse") == 0) {
      m.diag.warn(s.where("url"), "no transport: LiteLLM's default is http (Streamable HTTP), "
                                  "and so is mcpgw's; add transport: sse if this is a legacy "
                                  "SSE endpoint");
    }
  }
  ignore_for(s, transport, {"command", "args", "env"}, m);
  json::object headers;
  map_auth(s, sm, headers, m);
  map_static_headers(s, sm, headers, m);
  if (!headers.empty()) {
    sm.server["headers"] = std::move(headers);
  }
  map_extra_headers(s, sm, m);
}

void map_stdio(Settings& s, ServerMap& sm, Mapping& m) {
  sm.server["type"] = "stdio";
  if (auto command = s.str("command")) {
    sm.server["command"] = *command;
  }
  if (auto args = s.strings("args")) {
    sm.server["args"] = json::value_from(*args);
  }
  if (const auto env = s.pairs("env")) {
    json::object out;
    std::vector<std::string> names;
    for (const auto& [name, node] : *env) {
      if (node.IsScalar()) {
        out[name] = s.value(node, join_path(s.path("env"), name));
        names.push_back(name);
      }
    }
    sm.server["env"] = std::move(out);
    m.note(fmt::format("{} → env {}", s.path("env"), joined(names)));
  }
  ignore_for(s, "stdio", {"url", "auth_type", "auth_value", "authentication_token",
                          "static_headers", "extra_headers"}, m);
}

/// timeout (seconds): mcpgw's per-server call timeout.
void map_timeout(Settings& s, ServerMap& sm, Mapping& m) {
  const YAML::Node* v = s.get("timeout");
  if (v == nullptr || v->IsNull()) {
    return;
  }
  const json::value n = to_json(*v, s.path("timeout"), m.diag);
  const double seconds = n.is_number() ? n.to_number<double>() : -1;
  if (!(seconds > 0 && seconds <= 7 * 24 * 3600)) {
    m.diag.error(s.where("timeout"), "expected a number of seconds, more than 0");
    return;
  }
  const auto ms = std::max<std::int64_t>(1, std::llround(seconds * 1000));
  sm.options["callTimeoutMs"] = ms;
  m.origin(fmt::format("gateway.servers.{}.callTimeoutMs", sm.name), s.path("timeout"));
  m.note(fmt::format("{}: {} → gateway.servers.{}.callTimeoutMs: {}", s.path("timeout"),
                     v->Scalar(), sm.name, ms));
}

/// Every key not read: one LiteLLM has and mcpgw does not (why), or one LiteLLM does not have.
void warn_unread(const Settings& s, Mapping& m) {
  for (const auto& key : s.unread()) {
    const auto* known = std::find_if(std::begin(kIgnored), std::end(kIgnored),
                                     [&](const Ignored& i) { return i.key == key; });
    m.diag.warn(s.where(key), known != std::end(kIgnored)
                                  ? fmt::format("ignored: {}", known->why)
                                  : std::string("not a LiteLLM MCP server setting mcpgw knows; "
                                                "ignored"));
  }
}

/// The summary line of a server: its transport and where it is (no path, no arguments: they
/// may carry keys).
std::string summary(const ServerMap& sm) {
  const auto& type = sm.server.at("type").get_string();
  std::string where;
  if (const auto* url = sm.server.if_contains("url"); url != nullptr) {
    where = ", " + origin_of(url->get_string());
  } else if (const auto* command = sm.server.if_contains("command"); command != nullptr) {
    where = fmt::format(", {}", std::string_view(command->get_string()));
  }
  return fmt::format("{} → mcpServers.{} ({}{})", sm.path, sm.name, std::string_view(type),
                     where);
}

}  // namespace

std::optional<ServerMap> map_server(const std::string& key, const YAML::Node& node, Mapping& m) {
  const std::string path = join_path("mcp_servers", key);
  auto e = entries(node, path, m.diag);
  if (!e) {
    return std::nullopt;
  }
  Settings s(std::move(*e), path, m);
  if (s.has("spec_path")) {
    m.diag.warn(s.where("spec_path"), "LiteLLM makes tools of an OpenAPI spec; mcpgw serves MCP "
                                      "servers only, so this server is not imported");
    return std::nullopt;
  }
  ServerMap sm{key, key, path, {}, {}, {}, {}};
  const std::size_t first_note = m.out.mapped.size();
  if (auto alias = s.str("alias"); alias && !alias->empty()) {
    // LiteLLM prefixes the tools with the alias: named so, they keep their names.
    sm.name = *alias;
    m.note(fmt::format("{}: the server is named \"{}\", its tools' prefix in LiteLLM",
                       s.path("alias"), *alias));
  }
  const std::string t = transport(s, m);
  if (t == "stdio") {
    map_stdio(s, sm, m);
  } else if (!t.empty()) {
    map_remote(s, sm, t, m);
  }
  map_timeout(s, sm, m);
  sm.allowed_tools = s.strings("allowed_tools").value_or(std::vector<std::string>{});
  sm.disallowed_tools = s.strings("disallowed_tools").value_or(std::vector<std::string>{});
  warn_unread(s, m);
  m.origin("mcpServers." + sm.name, path);
  if (!t.empty()) {
    m.out.mapped.insert(m.out.mapped.begin() + static_cast<std::ptrdiff_t>(first_note),
                        summary(sm));
  }
  return sm;
}

}  // namespace mcpgw::config::litellm
