#include "client/probe_report.hpp"

#include "client/probe_config.hpp"
#include "client/probe_http.hpp"
#include "config/json_text.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <algorithm>

namespace mcpgw::client {

namespace json = boost::json;

namespace {

/// Columns a string takes on a terminal: its UTF-8 code points.
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string pad(std::string_view s, std::size_t to) {
  return fmt::format("{}{}", s, std::string(to > width(s) ? to - width(s) : 0, ' '));
}

const char* symbol(Mark m) {
  switch (m) {
    case Mark::ok:
      return "✓";
    case Mark::fail:
      return "✗";
    case Mark::info:
      break;
  }
  return "–";
}

/// Where legacy SSE worked, if it did.
std::string legacy_url(const Findings& f) {
  for (const auto& c : f.checks) {
    if (c.id == "sse.initialize" && c.mark == Mark::ok) {
      return c.url;
    }
  }
  return {};
}

void table(std::string& out, const Findings& f, const ReportOptions& o) {
  std::size_t w = 0;
  for (const auto& c : f.checks) {
    w = std::max(w, width(c.what));
  }
  for (const auto& c : f.checks) {
    const bool elsewhere = c.url != o.url && !c.url.empty();
    out += fmt::format("  {}  {}  {}{}\n", symbol(c.mark), pad(c.what, w),
                       elsewhere ? fmt::format("at {}: ", c.url) : std::string(), c.detail);
  }
}

void tool_list(std::string& out, const Findings& f) {
  if (f.tools.empty()) {
    out += "\nTools: none\n";
    return;
  }
  out += fmt::format("\nTools ({}):\n", f.tools.size());
  const std::size_t shown = std::min(f.tools.size(), kToolsShown);
  std::size_t w = 0;
  for (std::size_t i = 0; i < shown; ++i) {
    w = std::max(w, std::min<std::size_t>(width(f.tools[i].name), 40));
  }
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& t = f.tools[i];
    out += fmt::format("  {}  {}\n", pad(t.name, w), probe_detail::excerpt(t.description, 80));
  }
  if (f.tools.size() > shown) {
    out += fmt::format("  and {} more\n", f.tools.size() - shown);
  }
}

std::string verdict(const Findings& f, const ReportOptions& o) {
  if (f.transport.empty()) {
    std::string v = fmt::format("Verdict: does not work: {}.", f.failure);
    if (f.auth.status != 0) {
      v += " See the credentials row above.";
    }
    return v;
  }
  const std::string moved = f.working_url != o.url ? " (not the URL given)" : "";
  if (f.modern_only) {
    return fmt::format("Verdict: works for clients of the 2026-07-28 revision only (the v2 SDKs, "
                       "current Claude Code over http), at {}. Clients that initialize (older "
                       "revisions, legacy SSE) fail here.",
                       f.working_url);
  }
  if (f.transport == "sse") {
    return fmt::format("Verdict: works over legacy HTTP+SSE only, at {}{}: clients must use "
                       "their SSE transport.",
                       f.working_url, moved);
  }
  const std::string legacy = legacy_url(f);
  return fmt::format("Verdict: works over Streamable HTTP at {}{}. {}", f.working_url, moved,
                     legacy.empty() ? "Legacy SSE clients (--transport sse) will not work."
                     : legacy == f.working_url
                         ? "Legacy SSE clients work at the same URL too."
                         : fmt::format("Legacy SSE clients work at {}.", legacy));
}

void indented(std::string& out, std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto nl = text.find('\n', pos);
    const auto line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    out += fmt::format("  {}\n", line);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
  }
}

void configs(std::string& out, const Findings& f, const ReportOptions& o) {
  const auto c = client_configs(o.name, f.transport, f.working_url, o.headers, o.show_secrets);
  out += "\nClaude Code:\n";
  indented(out, c.claude_code);
  out += "\n.mcp.json (Claude Code, per project):\n";
  indented(out, config::pretty_json(c.mcp_json));
  out += "\nClaude Desktop (stdio only, through the mcpgw stdio bridge):\n";
  indented(out, config::pretty_json(c.claude_desktop));
  out += "\nmcpgw (in front of it, in the config's mcpServers):\n";
  indented(out, config::pretty_json(c.mcpgw));
  if (!o.headers.empty() && !o.show_secrets) {
    out += fmt::format("\nHeader values are shown as {}; --show-secrets prints them as given.\n",
                       kHiddenValue);
  }
}

json::value str_or_null(const std::string& s) { return s.empty() ? json::value() : json::value(s); }

json::value mark_json(Mark m) {
  return m == Mark::info ? json::value() : json::value(m == Mark::ok);
}

json::value auth_json(const AuthFinding& a) {
  if (a.status == 0) {
    return nullptr;
  }
  json::object o;
  o["status"] = a.status;
  o["challenge"] = a.challenge;
  o["said"] = a.said;
  o["resourceMetadata"] = str_or_null(a.resource_metadata);
  o["authorizationServer"] = str_or_null(a.authorization_server);
  o["dcr"] = a.dcr ? json::value(*a.dcr) : json::value();
  o["oauth"] = !a.authorization_server.empty();
  return o;
}

json::value configs_json(const Findings& f, const ReportOptions& o) {
  if (f.transport.empty()) {
    return nullptr;
  }
  auto c = client_configs(o.name, f.transport, f.working_url, o.headers, o.show_secrets);
  json::object out;
  out["claudeCode"] = c.claude_code;
  out["mcpJson"] = std::move(c.mcp_json);
  out["claudeDesktop"] = std::move(c.claude_desktop);
  out["mcpgw"] = std::move(c.mcpgw);
  return out;
}

}  // namespace

std::string render_text(const Findings& f, const ReportOptions& o) {
  std::string out = fmt::format("Probing {}\n\n", o.url);
  table(out, f, o);
  if (!f.transport.empty()) {
    tool_list(out, f);
  }
  out += fmt::format("\n{}\n", verdict(f, o));
  if (!f.transport.empty()) {
    configs(out, f, o);
  }
  return out;
}

json::object render_json(const Findings& f, const ReportOptions& o) {
  json::object out;
  out["url"] = o.url;
  out["ok"] = !f.transport.empty();
  out["modern"] = f.modern;            // 2026-07-28 works (discover, stateless tools/list)
  out["modernOnly"] = f.modern_only;  // and nothing older does
  out["reachable"] = f.reachable;
  out["transport"] = str_or_null(f.transport);
  out["workingUrl"] = str_or_null(f.working_url);
  out["name"] = o.name;
  if (f.server_name.empty()) {
    out["server"] = nullptr;
  } else {
    out["server"] = json::object{{"name", f.server_name}, {"version", f.server_version}};
  }
  out["protocolVersion"] = str_or_null(f.protocol_version);
  json::array checks;
  for (const auto& c : f.checks) {
    checks.push_back(json::object{{"id", c.id}, {"what", c.what}, {"ok", mark_json(c.mark)},
                                  {"detail", c.detail}, {"url", c.url}});
  }
  out["checks"] = std::move(checks);
  json::array tools;
  for (const auto& t : f.tools) {
    tools.push_back(json::object{{"name", t.name}, {"description", t.description}});
  }
  out["toolCount"] = f.tools.size();
  out["tools"] = std::move(tools);
  out["auth"] = auth_json(f.auth);
  out["failure"] = str_or_null(f.failure);
  out["configs"] = configs_json(f, o);
  return out;
}

}  // namespace mcpgw::client
