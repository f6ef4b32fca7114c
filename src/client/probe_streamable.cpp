// Streamable HTTP (2025-03-26 and later): initialize, initialized, tools/list, and the checks
// that explain why one client works where another fails: an Accept without text/event-stream,
// the server→client GET stream.
#include "client/probe_steps.hpp"

#include <fmt/format.h>

namespace mcpgw::client::probe_detail {

namespace {

constexpr std::string_view kLabel = "Streamable HTTP";

/// POSTs to the one endpoint, with the session and the negotiated version once known.
class StreamableChannel : public Channel {
 public:
  StreamableChannel(Context& ctx, const upstream::Url& url) : ctx_(ctx), url_(url) {}

  std::string session_id;
  std::string version;

  /// The session's headers, and `extra`.
  Fields headers(Fields extra = {}) const {
    if (!session_id.empty()) {
      extra.emplace_back("Mcp-Session-Id", session_id);
    }
    if (!version.empty()) {
      extra.emplace_back("MCP-Protocol-Version", version);
    }
    return extra;
  }
  asio::awaitable<Reply> call(const json::object& request) override {
    co_return co_await ctx_.http.rpc(url_, request, headers());
  }
  asio::awaitable<Reply> notify(const json::object& notification) override {
    co_return co_await ctx_.http.rpc(url_, notification, headers());
  }

 private:
  Context& ctx_;
  const upstream::Url& url_;
};

/// How the reply came: "SSE (text/event-stream)" or "JSON (application/json)".
std::string reply_kind(const Reply& r) {
  return r.sse ? "as SSE (text/event-stream)" : fmt::format("as JSON ({})", r.content_type);
}

/// What a failed initialize means for clients.
std::string initialize_failure(Context& ctx, const Reply& r) {
  const std::string why = ctx.why(r);
  switch (r.status) {
    case 401:
    case 403:
      return fmt::format("{}: the server wants credentials (see the credentials row)", why);
    case 404:
      return fmt::format("{}: no Streamable HTTP endpoint at this URL", why);
    case 405:
      return fmt::format("{}: POST is not allowed here (a legacy SSE URL?)", why);
    case 406:
      return fmt::format("{}: refused Accept: application/json, text/event-stream", why);
    default:
      return why;
  }
}

/// The initialize rows; false (with a ✗ row) when it failed.
bool judge_initialize(Context& ctx, const upstream::Url& url, const Reply& r, Handshake& h) {
  const char* what = "Streamable HTTP: POST initialize";
  if (r.refused()) {
    ctx.note_refusal(r);
    ctx.blocked = true;
  }
  std::string why;
  if (!r.message) {
    ctx.add("http.initialize", what, Mark::fail, initialize_failure(ctx, r), url);
    return false;
  }
  if (!read_handshake(*r.message, h, why)) {
    ctx.add("http.initialize", what, Mark::fail, fmt::format("HTTP {}, but {}", r.status, why),
            url);
    return false;
  }
  ctx.add("http.initialize", what, Mark::ok,
          fmt::format("HTTP {}, reply {}; protocol {}; server {}", r.status, reply_kind(r),
                      h.version, h.server),
          url);
  if (r.session_id.empty()) {
    ctx.add("http.session", "Streamable HTTP: session", Mark::info,
            "no Mcp-Session-Id: stateless, every request stands alone", url);
  } else {
    ctx.add("http.session", "Streamable HTTP: session", Mark::ok,
            "Mcp-Session-Id given: clients send it back on every request", url);
  }
  ctx.add("http.capabilities", "Streamable HTTP: capabilities", Mark::info, h.capabilities, url);
  return true;
}

asio::awaitable<void> send_initialized(Context& ctx, StreamableChannel& ch,
                                       const upstream::Url& url) {
  const char* what = "Streamable HTTP: notifications/initialized";
  const Reply r = co_await ch.notify(jsonrpc::make_notification(mcp::method::kInitialized, {}));
  if (r.status >= 200 && r.status < 300) {
    ctx.add("http.initialized", what, Mark::ok, fmt::format("HTTP {}", r.status), url);
  } else {
    ctx.add("http.initialized", what, Mark::fail,
            fmt::format("{}: clients stop after initialize", ctx.why(r)), url);
  }
}

/// A request whose POST accepts JSON only: some clients send no text/event-stream.
asio::awaitable<void> check_json_only(Context& ctx, StreamableChannel& ch,
                                      const upstream::Url& url) {
  const char* what = "POST with Accept: application/json only";
  const Fields headers = ch.headers({{"Accept", "application/json"}});
  const Reply r = co_await ctx.http.rpc(url, jsonrpc::make_request(ctx.http.next_id(), mcp::method::kToolsList, {}),
                                        headers);
  if (r.status == 406) {
    ctx.add("http.accept_json", what, Mark::fail,
            "answers 406 unless Accept has text/event-stream: clients that only accept JSON "
            "fail",
            url);
  } else if (r.message && r.sse) {
    ctx.add("http.accept_json", what, Mark::fail,
            "answers with an event stream although the client accepts only JSON: such clients "
            "fail",
            url);
  } else if (r.message) {
    ctx.add("http.accept_json", what, Mark::ok, "answered in JSON", url);
  } else {
    ctx.add("http.accept_json", what, Mark::fail, ctx.why(r), url);
  }
}

/// The GET stream of a session (server→client messages): offered, or 405.
asio::awaitable<void> check_get_stream(Context& ctx, StreamableChannel& ch,
                                       const upstream::Url& url) {
  const char* what = "GET with the session (server→client stream)";
  auto [r, stream] = co_await ctx.http.stream(url, ch.headers());
  if (stream) {
    ctx.add("http.get_stream", what, Mark::ok, "a server→client stream is offered", url);
  } else if (r.status == 405) {
    ctx.add("http.get_stream", what, Mark::ok, "none offered (405): fine", url);
  } else {
    ctx.add("http.get_stream", what, Mark::fail,
            fmt::format("{}: clients that open the stream after initialize may fail",
                        ctx.why(r)),
            url);
  }
}

}  // namespace

asio::awaitable<bool> try_streamable(Context& ctx, const upstream::Url& url) {
  StreamableChannel ch(ctx, url);
  const Reply init =
      co_await ch.call(initialize_request(ctx.http.next_id(), kStreamableVersion));
  Handshake h;
  if (!judge_initialize(ctx, url, init, h)) {
    co_return false;
  }
  keep_handshake(ctx, h, "http", url);
  ch.session_id = init.session_id;
  ch.version = h.version;
  co_await send_initialized(ctx, ch, url);
  co_await list_tools(ctx, ch, "http", kLabel, url);
  co_await check_json_only(ctx, ch, url);
  if (!ch.session_id.empty()) {
    co_await check_get_stream(ctx, ch, url);
    // Ends the session politely; whatever the answer, the probe is done with it.
    co_await ctx.http.fetch(verb::delete_, url, ch.headers());
  }
  co_return true;
}

}  // namespace mcpgw::client::probe_detail
