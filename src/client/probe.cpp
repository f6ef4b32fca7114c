// The order of the probe's steps: reach the server (asking for the 2026-07-28 revision on the
// way), Streamable HTTP, legacy SSE, the sibling URL when the one given does not work, and
// what a refusal says about credentials.
#include "client/probe_steps.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include <algorithm>

namespace mcpgw::client {

namespace probe_detail {

void Context::add(std::string id, std::string what, Mark mark, std::string detail,
                  const upstream::Url& url) {
  found.checks.push_back(
      Check{std::move(id), std::move(what), mark, std::move(detail), url.origin() + url.target});
}

void Context::note_refusal(const Reply& r) {
  if (found.auth.status != 0) {
    return;
  }
  found.auth.status = r.status;
  found.auth.challenge = r.www_authenticate;
  found.auth.said = excerpt(body_words(r.body), 200);
}

namespace {

/// A request of the 2026-07-28 revision: its envelope in `_meta`, no session.
json::object modern_request(std::int64_t id, std::string_view method) {
  json::object meta;
  meta["io.modelcontextprotocol/protocolVersion"] = kModernVersion;
  meta["io.modelcontextprotocol/clientCapabilities"] = json::object();
  meta["io.modelcontextprotocol/clientInfo"] = client_info();
  json::object params;
  params["_meta"] = std::move(meta);
  return jsonrpc::make_request(id, method, std::move(params));
}

/// Why a 2026-07-28 tools/list result would be refused by that revision's clients, or empty.
std::string modern_list_problem(const json::object& result) {
  const auto* tools = result.if_contains("tools");
  if (tools == nullptr || !tools->is_array()) {
    return "the result has no tools array";
  }
  if (!result.contains("resultType")) {
    return "the result has no resultType: 2026-07-28 clients refuse it";
  }
  if (!result.contains("ttlMs") || !result.contains("cacheScope")) {
    return "the result has no ttlMs/cacheScope: 2026-07-28 clients refuse it";
  }
  return {};
}

/// The versions in a server/discover result, "a, b".
std::string supported_versions(const json::object& result) {
  const auto* v = result.if_contains("supportedVersions");
  std::string out;
  if (v != nullptr && v->is_array()) {
    for (const auto& item : v->get_array()) {
      if (item.is_string()) {
        out += fmt::format("{}{}", out.empty() ? "" : ", ", std::string_view(item.get_string()));
      }
    }
  }
  return out.empty() ? "none listed" : out;
}

/// The "discover" row for the answer to server/discover; true if it offers 2026-07-28.
bool judge_discover(Context& ctx, const Reply& r, const upstream::Url& url) {
  const char* what = "2026-07-28 (server/discover)";
  if (r.message) {
    const auto* result = r.message->if_contains("result");
    const auto* versions = result != nullptr && result->is_object()
                               ? result->get_object().if_contains("supportedVersions")
                               : nullptr;
    const bool modern = versions != nullptr && versions->is_array() &&
                        std::find(versions->get_array().begin(), versions->get_array().end(),
                                  json::value("2026-07-28")) != versions->get_array().end();
    if (result != nullptr && result->is_object() && !modern) {
      ctx.add("discover", what, Mark::info,
              fmt::format("answers server/discover without offering 2026-07-28 "
                          "(supportedVersions {}): clients use initialize",
                          supported_versions(result->get_object())),
              url);
      return false;
    }
    if (modern) {
      ctx.add("discover", what, Mark::ok,
              fmt::format("speaks 2026-07-28: supportedVersions {}",
                          supported_versions(result->get_object())),
              url);
      return true;
    }
    ctx.add("discover", what, Mark::info,
            fmt::format("does not speak 2026-07-28 (server/discover → HTTP {}, {}): clients "
                        "fall back to initialize",
                        r.status, rpc_error_text(*r.message)),
            url);
    return false;
  }
  if (r.refused()) {
    ctx.add("discover", what, Mark::info,
            fmt::format("not answered: HTTP {}, the server wants credentials first", r.status),
            url);
  } else if (r.status >= 400 && r.status < 500) {
    ctx.add("discover", what, Mark::info,
            fmt::format("does not speak 2026-07-28 (server/discover → {}): clients fall back "
                        "to initialize",
                        ctx.why(r)),
            url);
  } else if (r.timed_out) {
    ctx.add("discover", what, Mark::fail,
            fmt::format("{}: clients that try 2026-07-28 first (Claude Code) wait before "
                        "falling back to initialize",
                        ctx.why(r)),
            url);
  } else {
    ctx.add("discover", what, Mark::fail, ctx.why(r), url);
  }
  return false;
}

/// `url` with its path's `from` ending replaced by `to` ("/mcp" → "/sse"), if it ends so; a
/// bare origin ("https://host/") gets `to` as its path.
std::optional<upstream::Url> sibling(const upstream::Url& url, std::string_view from,
                                     std::string_view to) {
  const auto q = url.target.find('?');
  std::string path = url.target.substr(0, q);
  if (path == "/") {
    path.clear();
  } else if (path.size() >= from.size() &&
             path.compare(path.size() - from.size(), from.size(), from) == 0) {
    path.resize(path.size() - from.size());
  } else {
    return std::nullopt;
  }
  upstream::Url out = url;
  out.target = path + std::string(to) + (q == std::string::npos ? "" : url.target.substr(q));
  return out;
}

/// Why nothing works, in one line.
void conclude(Context& ctx) {
  auto& f = ctx.found;
  if (!f.transport.empty()) {
    return;
  }
  if (f.modern) {
    f.modern_only = true;
    f.transport = "http";
    f.working_url = ctx.opts.url.origin() + ctx.opts.url.target;
    f.protocol_version = std::string(kModernVersion);
    f.tools = std::move(f.modern_tools);
    return;
  }
  if (f.auth.status != 0) {
    f.failure = fmt::format("the server refuses the probe (HTTP {}) for want of credentials",
                            f.auth.status);
  } else if (ctx.http.out_of_time()) {
    f.failure = "the probe ran out of time before any transport worked";
  } else {
    f.failure = "neither Streamable HTTP nor legacy SSE works at this URL";
  }
}

}  // namespace

asio::awaitable<bool> reach_and_discover(Context& ctx, const upstream::Url& url) {
  // (The headers are built first: g++ 12 rejects a braced list in a co_await's arguments.)
  const Fields headers{{"MCP-Protocol-Version", std::string(kModernVersion)},
                       {"Mcp-Method", "server/discover"}};
  const Reply r = co_await ctx.http.rpc(url, modern_request(ctx.http.next_id(), "server/discover"),
                                       headers);
  if (r.connect_failed) {
    ctx.add("reach", "reachable", Mark::fail, r.error, url);
    ctx.found.failure = r.error;
    co_return false;
  }
  ctx.found.reachable = true;
  std::string how;
  if (url.tls) {
    how = ctx.opts.tls.insecure ? " over TLS (certificate NOT verified: --insecure)"
                                : " over TLS (certificate verified)";
  }
  ctx.add("reach", "reachable", Mark::ok,
          fmt::format("connected to {}{}", url.host_header(), how), url);
  const bool modern = judge_discover(ctx, r, url);
  if (r.refused()) {
    ctx.note_refusal(r);
  }
  if (modern) {
    co_await try_stateless_list(ctx, url);
  }
  co_return true;
}

asio::awaitable<void> try_stateless_list(Context& ctx, const upstream::Url& url) {
  const char* what = "2026-07-28: tools/list, no session";
  const Fields headers{{"MCP-Protocol-Version", std::string(kModernVersion)},
                       {"Mcp-Method", "tools/list"}};
  const Reply r = co_await ctx.http.rpc(url, modern_request(ctx.http.next_id(), "tools/list"),
                                       headers);
  const auto* result = r.message ? r.message->if_contains("result") : nullptr;
  if (result == nullptr || !result->is_object()) {
    ctx.add("modern.tools", what, Mark::fail,
            r.message ? fmt::format("HTTP {}, {}", r.status, rpc_error_text(*r.message))
                      : ctx.why(r),
            url);
    co_return;
  }
  const auto& res = result->get_object();
  if (auto problem = modern_list_problem(res); !problem.empty()) {
    ctx.add("modern.tools", what, Mark::fail, fmt::format("HTTP {}, but {}", r.status, problem),
            url);
    co_return;
  }
  ctx.found.modern = true;
  for (const auto& t : res.at("tools").as_array()) {
    if (const auto* o = t.if_object()) {
      ctx.found.modern_tools.push_back(tool_summary(*o));
    }
  }
  ctx.add("modern.tools", what, Mark::ok,
          fmt::format("{} tools, with resultType, ttlMs {} and cacheScope {}",
                      res.at("tools").as_array().size(), json::serialize(res.at("ttlMs")),
                      json::serialize(res.at("cacheScope"))),
          url);
}

}  // namespace probe_detail

asio::awaitable<Findings> probe(asio::any_io_executor ex, const ProbeOptions& opts) {
  using namespace probe_detail;
  Context ctx(std::move(ex), opts);
  const upstream::Url& url = opts.url;
  if (!co_await reach_and_discover(ctx, url)) {
    co_return std::move(ctx.found);
  }
  bool http = co_await try_streamable(ctx, url);
  // A legacy URL (…/sse) often has a Streamable HTTP sibling (…/mcp), and the other way round;
  // a bare origin may have both.
  if (const auto alt = sibling(url, "/sse", "/mcp"); !http && alt && !ctx.blocked) {
    http = co_await try_streamable(ctx, *alt);
  }
  bool sse = false;
  if (ctx.blocked) {
    ctx.add("sse.get", "legacy SSE: GET stream", Mark::info,
            "not tried: the server wants credentials first", url);
  } else {
    sse = co_await try_legacy(ctx, url);
  }
  if (const auto alt = sibling(url, "/mcp", "/sse"); !sse && alt && !ctx.blocked) {
    co_await try_legacy(ctx, *alt);
  }
  if (ctx.found.auth.status != 0 && ctx.found.transport.empty()) {
    co_await explain_auth(ctx);
  }
  conclude(ctx);
  co_return std::move(ctx.found);
}

Findings run_probe(const ProbeOptions& opts) {
  asio::io_context io;
  Findings out;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out = co_await probe(io.get_executor(), opts); },
      asio::detached);
  io.run();
  return out;
}

}  // namespace mcpgw::client
