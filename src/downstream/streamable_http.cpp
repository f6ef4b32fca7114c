// Streamable HTTP (2025-03-26 and later): POST, GET and DELETE on /mcp and /mcp/{server}.
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

asio::awaitable<bool> HttpServer::Impl::streamable(Conn& c, Request& req, const std::string& server,
                                                   const std::string& endpoint) {
  switch (req.method()) {
    case http::verb::post: co_return co_await streamable_post(c, req, server, endpoint);
    case http::verb::get:
      if (req[kSessionHeader].empty() && parse_accept(req[http::field::accept]).sse) {
        // No session and an event stream wanted: a legacy HTTP+SSE client (Claude Code's
        // `--transport sse`, the SDKs' SSE transports) pointed at the MCP URL. One URL serves
        // both transports; a Streamable HTTP client always GETs with its session.
        co_return co_await legacy_stream(c, req, server, endpoint);
      }
      co_return co_await streamable_get(c, req, endpoint);
    case http::verb::delete_: co_return co_await streamable_delete(c, req, endpoint);
    default: {
      auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest,
                                "Method not allowed");
      res.set(http::field::allow, kAllowStreamable);
      co_return co_await write(c, res);
    }
  }
}

asio::awaitable<std::variant<SessionPtr, Response>> HttpServer::Impl::own_session(
    const Conn& c, const Request& req, const std::string& endpoint) {
  const std::string sid(req[kSessionHeader]);
  if (sid.empty()) {
    co_return error_response(req, make_error_code(Errc::session_required));
  }
  SessionPtr s = relay_.find_session(sid);
  std::string refusal;
  if (!s && !stopping_ && relay_.seals_sessions() && !co_await relay_.session_ended(sid)) {
    s = revive_session(c, req, sid, endpoint, refusal);  // opened by another replica
  } else if (s && !co_await relay_.still_open(s)) {
    s = nullptr;  // its client ended it through another replica
  }
  if (!s || s->transport != relay::ClientTransport::streamable_http || s->endpoint != endpoint ||
      !same_principal(s->principal, c.principal)) {
    // 404 + -32001 is what tells clients (Claude Code among them) to re-initialize. While the
    // gateway drains, the session may have been closed by the drain itself: say so instead.
    if (stopping_) {
      co_return error_response(req, make_error_code(Errc::shutting_down));
    }
    co_return error_response(req, make_error_code(Errc::session_not_found), nullptr, refusal);
  }
  if (!c.key_in_authorization) {
    relay_.saw_authorization(*s, req[http::field::authorization]);
  }
  co_return s;
}

std::variant<std::string, Response> HttpServer::Impl::request_version(const Request& req) {
  const auto header = req[kVersionHeader];
  if (header.empty()) {
    return std::string(mcp::kAssumedHeaderVersion);
  }
  if (!mcp::is_supported(header)) {
    std::string supported;
    for (auto v : mcp::kSupportedVersions) {
      supported += supported.empty() ? std::string(v) : ", " + std::string(v);
    }
    return error_response(req, make_error_code(Errc::unsupported_version), nullptr,
                          fmt::format("Bad Request: Unsupported protocol version: {} "
                                      "(supported versions: {})",
                                      std::string_view(header), supported));
  }
  return std::string(header);
}

asio::awaitable<std::variant<HttpServer::Impl::Named, Response>>
HttpServer::Impl::session_and_version(const Conn& c, const Request& req,
                                      const std::string& endpoint) {
  auto session = co_await own_session(c, req, endpoint);
  if (auto* refusal = std::get_if<Response>(&session)) {
    co_return std::move(*refusal);
  }
  auto version = request_version(req);
  if (auto* refusal = std::get_if<Response>(&version)) {
    co_return std::move(*refusal);
  }
  co_return Named{std::get<SessionPtr>(std::move(session)),
                  std::get<std::string>(std::move(version))};
}

asio::awaitable<bool> HttpServer::Impl::streamable_post(Conn& c, Request& req,
                                                        const std::string& server,
                                                        const std::string& endpoint) {
  const Accepts accepts = parse_accept(req[http::field::accept]);
  if (!accepts.json && !accepts.sse) {
    auto res = error_response(req, 406, nullptr, rpc_code::kServerError,
                              "Not Acceptable: Client must accept application/json or "
                              "text/event-stream");
    co_return co_await write(c, res);
  }
  if (auto ct = req[http::field::content_type]; !ct.empty() && !contains_ci(ct, "json")) {
    auto res = error_response(req, 415, nullptr, rpc_code::kInvalidRequest,
                              "Unsupported Media Type: Content-Type must be application/json");
    co_return co_await write(c, res);
  }
  Response refusal;
  auto parsed = parse_body(req, refusal);
  if (!parsed) {
    co_return co_await write(c, refusal);
  }
  if (parsed->is_array()) {
    co_return co_await streamable_batch(c, req, parsed->get_array(), endpoint, accepts);
  }
  std::string_view why;
  const auto kind = jsonrpc::classify(*parsed, &why);
  if (kind == jsonrpc::Kind::invalid) {
    json::value id = nullptr;
    if (parsed->is_object()) {
      if (const auto* v = parsed->get_object().if_contains("id"); v && jsonrpc::valid_id(*v)) {
        id = *v;
      }
    }
    auto res = error_response(req, 400, std::move(id), rpc_code::kInvalidRequest,
                              fmt::format("Invalid Request: {}", why));
    co_return co_await write(c, res);
  }
  json::object msg = std::move(parsed->get_object());
  const std::string_view method = jsonrpc::method(msg);

  // 2026-07-28: stateless requests (and server/discover, how its clients begin) beside the
  // sessions of the older revisions.
  if (is_modern_request(req, msg, kind)) {
    co_return co_await modern_post(c, req, std::move(msg), kind, server, endpoint, accepts);
  }

  if (kind == jsonrpc::Kind::request && method == mcp::method::kInitialize) {
    co_return co_await streamable_initialize(c, req, std::move(msg), server, endpoint, accepts);
  }

  auto named = co_await session_and_version(c, req, endpoint);
  if (auto* refusal = std::get_if<Response>(&named)) {
    co_return co_await write(c, *refusal);
  }
  auto& [s, version] = std::get<Named>(named);
  if (kind == jsonrpc::Kind::notification || kind == jsonrpc::Kind::response) {
    // 202 at once: the client must never wait on the gateway's work for these.
    const bool k = co_await write_json(c, req, 202, {}, {});
    if (kind == jsonrpc::Kind::notification) {
      relay_.handle_notification(s, std::move(msg));
    } else {
      relay_.handle_response(s, std::move(msg));
    }
    co_return k;
  }
  auto out = s->new_request_stream(accepts.sse);
  asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), out, c.request_id, c.traceparent),
                 asio::detached);
  co_return co_await reply(c, req, s, out, accepts, version, false);
}

asio::awaitable<bool> HttpServer::Impl::streamable_initialize(Conn& c, Request& req,
                                                              json::object msg,
                                                              const std::string& server,
                                                              const std::string& endpoint,
                                                              Accepts accepts) {
  std::string error;
  auto view = relay_.resolve_view(server, req["x-mcp-servers"], c.principal.get(), error);
  if (!view) {
    auto res = error_response(req, 404, msg.at("id"), rpc_code::kInvalidParams, error);
    co_return co_await write(c, res);
  }
  const auto* params = msg.if_contains("params");
  auto created = open_session(c, req, relay::ClientTransport::streamable_http, std::move(*view),
                              server, endpoint,
                              params != nullptr && params->is_object() ? &params->get_object()
                                                                       : nullptr);
  if (!created) {
    auto res = session_refused(req, created.error(), msg.at("id"));
    co_return co_await write(c, res);
  }
  SessionPtr s = *created;
  std::string version(mcp::kAssumedHeaderVersion);
  if (const auto* p = msg.if_contains("params"); p && p->is_object()) {
    if (const auto* v = p->get_object().if_contains("protocolVersion"); v && v->is_string()) {
      version = std::string(mcp::negotiate(v->get_string()));
    }
  }
  auto out = s->new_request_stream(accepts.sse);
  asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), out, c.request_id, c.traceparent),
                 asio::detached);
  co_return co_await reply(c, req, s, out, accepts, version, true);
}

asio::awaitable<bool> HttpServer::Impl::streamable_batch(Conn& c, Request& req, json::array& batch,
                                                         const std::string& endpoint, Accepts) {
  if (batch.empty()) {
    auto res = error_response(req, 400, nullptr, rpc_code::kInvalidRequest,
                              "Invalid Request: empty batch");
    co_return co_await write(c, res);
  }
  auto named = co_await session_and_version(c, req, endpoint);
  if (auto* refusal = std::get_if<Response>(&named)) {
    co_return co_await write(c, *refusal);
  }
  auto& [s, version] = std::get<Named>(named);
  json::array replies;
  std::vector<std::shared_ptr<EventStream>> streams;
  for (auto& item : batch) {
    std::string_view why;
    const auto kind = jsonrpc::classify(item, &why);
    if (kind == jsonrpc::Kind::invalid) {
      replies.push_back(jsonrpc::make_error(nullptr, rpc_code::kInvalidRequest,
                                            fmt::format("Invalid Request: {}", why)));
      continue;
    }
    json::object msg = std::move(item.get_object());
    if (kind == jsonrpc::Kind::notification) {
      relay_.handle_notification(s, std::move(msg));
    } else if (kind == jsonrpc::Kind::response) {
      relay_.handle_response(s, std::move(msg));
    } else if (jsonrpc::method(msg) == mcp::method::kInitialize) {
      replies.push_back(jsonrpc::make_error(msg.at("id"), rpc_code::kInvalidRequest,
                                            "initialize must not be part of a batch"));
    } else {
      auto out = s->new_request_stream(false);
      streams.push_back(out);
      asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), out, c.request_id, c.traceparent),
                     asio::detached);
    }
  }
  for (auto& out : streams) {
    while (!out->finished()) {
      out->wake().reset();
      co_await out->wake().wait_until(Clock::time_point::max());
    }
    if (const auto* e = out->front()) {
      replies.push_back(jsonrpc::parse(e->data).value());
    }
  }
  if (replies.empty()) {
    auto res = json_response(req, 202, std::string());
    co_return co_await write(c, res);
  }
  auto res = json_response(req, 200, jsonrpc::serialize(replies));
  co_return co_await write(c, res);
}

asio::awaitable<bool> HttpServer::Impl::reply(Conn& c, Request& req, const SessionPtr& s,
                                              const std::shared_ptr<EventStream>& out,
                                              Accepts accepts, const std::string& version,
                                              bool initialize) {
  if (version == mcp::kModernVersion) {
    // The stateless revision cancels a request by closing its stream: watch for that.
    if (!co_await first_event_or_close(c, *out)) {
      co_return false;
    }
  }
  while (out->size() == 0 && !out->finished()) {
    out->wake().reset();
    co_await out->wake().wait_until(Clock::time_point::max());
  }
  const bool only_final = out->finished() && out->size() == 1;
  if (accepts.json && (only_final || !accepts.sse)) {
    const std::string_view body = out->front() ? std::string_view(out->front()->data) : "";
    out->mark_delivered(out->last_seq());
    std::string_view session_id;
    if (initialize) {
      if (s->initialized()) {
        session_id = s->id;
      } else {
        relay_.close_session(s, "initialize failed");
      }
    }
    co_return co_await write_json(c, req, out->http_status(), body, session_id);
  }
  s->register_stream(out);  // an SSE reply can be resumed with Last-Event-ID
  // The stateless revision has no resumption, so nothing to prime.
  const bool priming =
      mcp::at_least(version, mcp::kPrimingVersion) && version != mcp::kModernVersion;
  // Named locals, not temporaries, in co_await expressions (g++ 12 coroutine temporaries).
  std::string session_header = initialize ? s->id : std::string();
  const bool ok = co_await write_sse(c, req, s, out, 0, priming, std::move(session_header),
                                     false, std::string());
  s->prune_streams();
  co_return ok;
}

asio::awaitable<bool> HttpServer::Impl::streamable_get(Conn& c, Request& req,
                                                       const std::string& endpoint) {
  const Accepts accepts = parse_accept(req[http::field::accept]);
  auto named = co_await session_and_version(c, req, endpoint);
  if (auto* refusal = std::get_if<Response>(&named)) {
    co_return co_await write(c, *refusal);
  }
  auto& [s, version] = std::get<Named>(named);
  if (!accepts.sse) {
    auto res = error_response(req, 406, nullptr, rpc_code::kServerError,
                              "Not Acceptable: Client must accept text/event-stream");
    co_return co_await write(c, res);
  }
  // Resume: Last-Event-ID names the stream and the last event the client saw.
  std::shared_ptr<EventStream> stream = s->standalone();
  std::uint64_t after = stream->delivered();
  if (auto last = req["Last-Event-ID"]; !last.empty()) {
    std::string replica;
    std::uint64_t number = 0;
    std::uint64_t seq = 0;
    if (EventStream::parse_event_id(last, replica, number, seq)) {
      // Named locals, not temporaries, in co_await expressions (g++ 12 coroutine temporaries).
      auto elsewhere = co_await relay_.resume_elsewhere(s, replica, number, seq);
      if (elsewhere) {
        stream = elsewhere->stream;
        after = elsewhere->after;
      } else if (auto found = s->find_stream(number);
                 found && (replica.empty() || replica == relay_.replica())) {
        stream = found;  // this replica's own (another's, not found, gets the standalone)
        after = seq;
      }
    }
  }
  const bool priming = mcp::at_least(version, mcp::kPrimingVersion);
  s->touch();
  const bool ok = co_await write_sse(c, req, s, stream, after, priming, std::string(), false,
                                     std::string());
  s->touch();
  co_return ok;
}

asio::awaitable<bool> HttpServer::Impl::streamable_delete(Conn& c, Request& req,
                                                          const std::string& endpoint) {
  auto session = co_await own_session(c, req, endpoint);
  if (auto* refusal = std::get_if<Response>(&session)) {
    co_return co_await write(c, *refusal);
  }
  co_await relay_.end_session(std::get<SessionPtr>(session));
  auto res = json_response(req, 200, std::string());
  co_return co_await write(c, res);
}

}  // namespace mcpgw::downstream
