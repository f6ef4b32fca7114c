// Legacy HTTP+SSE (2024-11-05): a GET stream whose first event names the endpoint for POSTs;
// every response comes back on that stream.
#include "client/probe_steps.hpp"
#include "common/text.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

namespace mcpgw::client::probe_detail {

namespace {

constexpr std::string_view kLabel = "legacy SSE";

/// POSTs to the endpoint the stream named; reads the responses from the stream.
class LegacyChannel : public Channel {
 public:
  LegacyChannel(Context& ctx, upstream::Url endpoint, EventStream& stream)
      : ctx_(ctx), endpoint_(std::move(endpoint)), stream_(stream) {}

  asio::awaitable<Reply> call(const json::object& request) override {
    Reply r = co_await post(request);
    if (r.status < 200 || r.status >= 300) {
      co_return r;
    }
    const std::int64_t id = request.at("id").as_int64();
    r.message = co_await stream_.response(id, ctx_.http.deadline(), r.error, r.timed_out);
    if (!r.message && !r.timed_out) {
      r.error = fmt::format("the response never came on the stream ({})", r.error);
    }
    co_return r;
  }
  asio::awaitable<Reply> notify(const json::object& notification) override {
    co_return co_await post(notification);
  }

 private:
  asio::awaitable<Reply> post(const json::object& msg) {
    const Fields headers{{"Content-Type", "application/json"}};
    co_return co_await ctx_.http.fetch(verb::post, endpoint_, headers, json::serialize(msg));
  }

  Context& ctx_;
  upstream::Url endpoint_;
  EventStream& stream_;
};

/// What a GET that opened no event stream means for legacy clients.
std::string get_failure(Context& ctx, const Reply& r) {
  const std::string why = ctx.why(r);
  if (r.status == 400 && lower(r.body).find("session") != std::string::npos) {
    return fmt::format("{}: needs a session id on GET: legacy SSE clients (claude mcp add "
                       "--transport sse) will fail",
                       why);
  }
  if (r.status == 200) {
    return fmt::format("HTTP 200, but {} instead of an event stream",
                       r.content_type.empty() ? "no Content-Type" : r.content_type);
  }
  if (r.status == 404 || r.status == 405) {
    return fmt::format("{}: no legacy SSE stream at this URL", why);
  }
  return why;
}

/// Opens the stream and reads the endpoint event: the "sse.get" row. Null when it failed.
asio::awaitable<std::unique_ptr<EventStream>> open_stream(Context& ctx, const upstream::Url& url,
                                                          upstream::Url& endpoint) {
  const char* what = "legacy SSE: GET (no session) → endpoint event";
  auto [r, stream] = co_await ctx.http.stream(url, {});
  if (!stream) {
    if (r.refused()) {
      ctx.note_refusal(r);
    }
    ctx.add("sse.get", what, Mark::fail, get_failure(ctx, r), url);
    co_return nullptr;
  }
  std::string error;
  bool timed_out = false;
  const auto first = co_await stream->next(ctx.http.deadline(), error, timed_out);
  std::string why;
  if (!first) {
    why = timed_out ? fmt::format("an event stream opened, but no endpoint event came within {}",
                                  seconds_text(ctx.http.step()))
                    : fmt::format("the event stream ended before an endpoint event ({})", error);
  } else if (first->type != "endpoint") {
    why = fmt::format("the stream's first event is \"{}\", not \"endpoint\": not a legacy SSE "
                      "stream",
                      first->type);
  } else if (std::string bad; !upstream::resolve_url(url, first->data, endpoint, bad)) {
    why = fmt::format("the endpoint event's URL is not usable: {}", bad);
  }
  if (!why.empty()) {
    ctx.add("sse.get", what, Mark::fail, why, url);
    co_return nullptr;
  }
  const bool same = ctx.found.transport == "http" && ctx.found.working_url == url.origin() + url.target;
  ctx.add("sse.get", what, Mark::ok,
          fmt::format("endpoint {}{}", excerpt(first->data, 120),
                      same ? "; it also speaks legacy SSE at the same URL" : ""),
          url);
  co_return std::move(stream);
}

}  // namespace

asio::awaitable<bool> try_legacy(Context& ctx, const upstream::Url& url) {
  upstream::Url endpoint;
  auto stream = co_await open_stream(ctx, url, endpoint);
  if (!stream) {
    co_return false;
  }
  LegacyChannel ch(ctx, endpoint, *stream);
  const char* what = "legacy SSE: POST initialize, reply on the stream";
  const Reply init = co_await ch.call(initialize_request(ctx.http.next_id(), kLegacyVersion));
  Handshake h;
  std::string why;
  if (!init.message) {
    ctx.add("sse.initialize", what, Mark::fail, ctx.why(init), url);
    co_return false;
  }
  if (!read_handshake(*init.message, h, why)) {
    ctx.add("sse.initialize", what, Mark::fail, why, url);
    co_return false;
  }
  ctx.add("sse.initialize", what, Mark::ok,
          fmt::format("POST → HTTP {}; protocol {}; server {}", init.status, h.version, h.server),
          url);
  keep_handshake(ctx, h, "sse", url);
  const Reply note = co_await ch.notify(jsonrpc::make_notification(mcp::method::kInitialized, {}));
  if (note.status < 200 || note.status >= 300) {
    ctx.add("sse.initialized", "legacy SSE: notifications/initialized", Mark::fail,
            ctx.why(note), url);
  }
  co_await list_tools(ctx, ch, "sse", kLabel, url);
  co_return true;
}

}  // namespace mcpgw::client::probe_detail
