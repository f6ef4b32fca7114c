// Streamable HTTP: what the gateway hears from a server without asking. A server of the older
// revisions speaks on its GET stream; a server of 2026-07-28 on the POST stream of the
// gateway's subscriptions/listen at it (its list changes, and the resources sessions
// subscribed). Either is opened again when it ends, with backoff.
#include "upstream/remote_backend.hpp"

#include "common/scope_exit.hpp"
#include "jsonrpc/message.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <spdlog/spdlog.h>

namespace mcpgw::upstream {

namespace {
constexpr auto kStreamRetryMin = std::chrono::milliseconds(500);
constexpr auto kStreamRetryMax = std::chrono::seconds(30);
}  // namespace

HttpRequest StreamableHttpBackend::stream_request(std::string_view last_id) const {
  HttpRequest req;
  req.method = http::verb::get;
  req.target = url_.target;
  request_headers(req.headers, nullptr);
  req.headers.set(http::field::accept, "text/event-stream");
  req.headers.erase(http::field::content_type);
  if (!last_id.empty()) {
    req.headers.set("Last-Event-ID", last_id);
  }
  return req;
}

std::optional<HttpRequest> StreamableHttpBackend::listen_http_request(
    std::string_view last_id) const {
  if (!modern_) {
    return stream_request(last_id);  // the GET stream
  }
  json::object listen = listen_request();
  if (listen.empty()) {
    return std::nullopt;  // nothing of it changes
  }
  HttpRequest req;
  req.method = http::verb::post;
  req.target = url_.target;
  request_headers(req.headers, &listen);
  req.headers.set(http::field::accept, "text/event-stream");
  req.body = jsonrpc::serialize(listen);
  return req;
}

void StreamableHttpBackend::relisten() {
  // The listen's POST stream ends; its loop opens the next one with the new subscriptions
  // (or a loop starts: there was nothing to listen for until now).
  ++listens_;
  if (state_ != BackendState::ready) {
    return;  // the listen opened when the server is ready has them
  }
  if (!listen_running_) {
    asio::co_spawn(ex_, [self = me(), gen = generation_]() { return self->listen(gen); },
                   asio::detached);
  } else if (get_stream_) {
    get_stream_->abort();
  } else if (listen_wake_) {
    listen_wake_->set();
  }
}

asio::awaitable<void> StreamableHttpBackend::listen(std::uint64_t generation) {
  auto keep = me();
  listen_running_ = true;
  ScopeExit done([this] { listen_running_ = false; });
  auto backoff = std::chrono::milliseconds(kStreamRetryMin);
  std::string last_id;
  while (!stopping_ && generation == generation_) {
    const std::uint64_t asked = listens_;  // what this stream asks for (relisten() moves it)
    auto request = listen_http_request(last_id);
    if (!request) {
      co_return;
    }
    boost::system::error_code ec;
    std::string error;
    bool connect_failed = false;
    auto resp = co_await client_->send(std::move(*request),
                                       Clock::now() + gateway_.timeouts.startup, ec, error,
                                       connect_failed);
    if (stopping_ || generation != generation_) {
      break;
    }
    if (resp && resp->status() == 200 && resp->content_type_is("text/event-stream")) {
      get_stream_ = resp;
      backoff = kStreamRetryMin;
      auto forever = Clock::time_point::max();
      if (asked == listens_) {  // else the listen changed while this one was being opened
        co_await read_events(*resp, forever, last_id, [&](SseEvent&& ev) {
          deliver_event(ev);
          return !stopping_ && generation == generation_;
        });
      }
      if (get_stream_ == resp) {
        get_stream_.reset();
      }
      if (stopping_ || generation != generation_) {
        break;
      }
      if (asked != listens_) {
        resp->abort();
        continue;  // opened again at once, with what changed
      }
      spdlog::debug("[{}] the GET stream ended; reopening", server_.name);
    } else if (resp && (resp->status() == 405 || resp->status() == 404 ||
                        resp->status() == 400)) {
      // 405: the server offers no stream. 404: the session is gone; the next POST notices.
      spdlog::debug("[{}] no GET stream (HTTP {})", server_.name, resp->status());
      break;
    } else if (!resp && connect_failed) {
      broken(error);  // the server went away: reconnect (and report it down) now, not at the next call
      break;
    } else {
      spdlog::debug("[{}] GET stream failed: {}", server_.name,
                    resp ? fmt::format("HTTP {}", resp->status()) : error);
    }
    if (!listen_wake_) {
      listen_wake_ = std::make_shared<Event>(ex_);
    }
    auto wake = listen_wake_;
    co_await wake->wait_until(Clock::now() + backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(kStreamRetryMax));
  }
}

}  // namespace mcpgw::upstream
