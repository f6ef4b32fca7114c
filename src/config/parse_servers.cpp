// Parsing one server of `mcpServers` (Claude Code's .mcp.json format) and its options in
// `gateway.servers`.
#include "config/parse.hpp"
#include "common/text.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

namespace mcpgw::config::detail {

namespace fs = std::filesystem;

namespace {

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

/// `passHeaders`: header names (HTTP tokens), kept lower case. Framing, session and hop-by-hop
/// headers are the gateway's own to set.
void parse_pass_headers(ObjectReader& r, Diagnostics& diag, std::vector<std::string>& out) {
  r.strings("passHeaders", out);
  static constexpr std::string_view kReserved[] = {
      "host", "content-length", "content-type", "transfer-encoding", "connection", "accept",
      "te", "upgrade", "keep-alive", "mcp-session-id", "mcp-protocol-version", "last-event-id"};
  for (auto& name : out) {
    name = lower(name);
    const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '_';
    });
    if (!token) {
      diag.error(r.path("passHeaders"), fmt::format("\"{}\" is not a header name", name));
    } else if (std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved)) {
      diag.error(r.path("passHeaders"),
                 fmt::format("\"{}\" is set by the gateway itself and cannot be passed", name));
    }
  }
}

/// `${user:NAME}` is read from the caller's vault when the process starts: only env values
/// take it (args are visible to every local user, a URL or header is not filled per user).
void refuse_user_refs(ServerConfig& out, const std::string& path, Diagnostics& diag) {
  std::vector<std::string> names;
  user_refs(out.command, names);
  user_refs(out.cwd, names);
  for (const auto& a : out.args) {
    user_refs(a, names);
  }
  user_refs(out.url, names);
  for (const auto& [k, v] : out.headers) {
    user_refs(v, names);
  }
  if (!names.empty()) {
    diag.error(path, fmt::format("${{user:{}}}: a user's secret goes in a stdio server's env "
                                 "only (command lines are visible to every local user)",
                                 names.front()));
  }
  std::sort(out.user_secrets.begin(), out.user_secrets.end());
  out.user_secrets.erase(std::unique(out.user_secrets.begin(), out.user_secrets.end()),
                         out.user_secrets.end());
  for (const auto& name : out.user_secrets) {
    if (auto why = check_user_secret_name(name); !why.empty()) {
      diag.error(join_path(path, "env"), fmt::format("${{user:{}}}: {}", name, why));
    }
  }
}

}  // namespace

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
    // ${user:NAME} is kept everywhere, so that refuse_user_refs says where it may go.
    expand(out.command, r.path("command"), env, diag, /*keep_user_refs=*/true);
    for (std::size_t i = 0; i < out.args.size(); ++i) {
      expand(out.args[i], fmt::format("{}[{}]", r.path("args"), i), env, diag,
             /*keep_user_refs=*/true);
    }
    for (auto& [k, v] : out.env) {
      expand(v, join_path(r.path("env"), k), env, diag, /*keep_user_refs=*/true);
      user_refs(v, out.user_secrets);
    }
    expand(out.cwd, r.path("cwd"), env, diag, /*keep_user_refs=*/true);
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
    expand(out.url, r.path("url"), env, diag, /*keep_user_refs=*/true);
    for (auto& [k, v] : out.headers) {
      expand(v, join_path(r.path("headers"), k), env, diag, /*keep_user_refs=*/true);
    }
  }
  refuse_user_refs(out, path, diag);
}

void parse_server_options(const json::object& obj, const std::string& path,
                          const std::string& base_dir, const EnvLookup& env, Diagnostics& diag,
                          ServerOptions& out) {
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
  parse_pass_headers(r, diag, out.pass_headers);
  r.positive("maxProcesses", out.max_processes);
  parse_tls(r, base_dir, diag, out.tls_ca_file, out.tls_insecure);
  parse_trust(r.get("trust"), r.path("trust"), diag, out.trust);
  parse_approver(r, out.approvals);
  parse_upstream_auth(r, env, diag, out.auth);
  std::string pins;
  r.str("pins", pins);
  if (pins == "strict") {
    out.strict_pins = true;
  } else if (!pins.empty() && pins != "first-sight") {
    diag.error(r.path("pins"), fmt::format("expected \"first-sight\" or \"strict\", got \"{}\"",
                                           pins));
  }
  if (const auto* tools = as_object(r.get("tools"), r.path("tools"), diag)) {
    for (const auto& kv : *tools) {
      const std::string tpath = join_path(r.path("tools"), kv.key());
      if (const auto* t = as_object(&kv.value(), tpath, diag)) {
        ObjectReader tr(*t, tpath, diag);
        parse_trust(tr.get("trust"), tr.path("trust"), diag,
                    out.tool_trust[std::string(kv.key())]);
        std::optional<Approver> approver;
        parse_approver(tr, approver);
        if (approver) {
          out.tool_approvals[std::string(kv.key())] = *approver;
        }
      }
    }
  }
}

void parse_approver(ObjectReader& r, std::optional<Approver>& out) {
  std::string v;
  r.str("approvals", v);
  if (v == "client") {
    out = Approver::client;
  } else if (v == "admin") {
    out = Approver::admin;
  } else if (!v.empty()) {
    r.error("approvals", fmt::format("expected \"client\" or \"admin\", got \"{}\"", v));
  }
}

void check_server_options(const ServerConfig& sc, const std::string& path, Diagnostics& diag) {
  const auto& o = sc.options;
  if (!o.pass_headers.empty() && sc.transport == Transport::stdio) {
    diag.error(join_path(path, "passHeaders"), "applies to http and sse servers only");
  }
  if (!o.pass_headers.empty() && o.isolation_set && o.isolation == Isolation::shared) {
    diag.error(join_path(path, "passHeaders"),
               "needs isolation \"session\": a shared upstream session cannot carry each "
               "client's headers");
  }
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
  if (o.forward_authorization) {
    diag.warn(join_path(path, "forwardAuthorization"),
              "the client's own Authorization goes to this server (token passthrough, which "
              "the MCP authorization spec forbids); a gateway API key is never passed on. "
              "Prefer passHeaders for a user's own credential");
  }
  if (o.tls_insecure) {
    diag.warn(join_path(path, "tls.insecure"),
              "certificate verification is off for this server");
  }
}

}  // namespace mcpgw::config::detail
