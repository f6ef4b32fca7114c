// Legacy HTTP+SSE (2024-11-05): GET /sse and POST /message.
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

asio::awaitable<bool> HttpServer::Impl::legacy_stream(Conn& c, Request& req,
                                                      const std::string& server,
                                                      const std::string& endpoint) {
  if (req.method() == http::verb::post) {
    // A Streamable HTTP client pointed at /sse: tell it where to go.
    auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest,
                              "This is the legacy SSE endpoint: GET it for an event stream, "
                              "or POST to /mcp (Streamable HTTP)");
    res.set(http::field::allow, "GET");
    co_return co_await write(c, res);
  }
  if (req.method() != http::verb::get) {
    auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest, "Method not allowed");
    res.set(http::field::allow, "GET");
    co_return co_await write(c, res);
  }
  std::string error;
  auto view = relay_.resolve_view(server, req["x-mcp-servers"], c.principal.get(), error);
  if (!view) {
    auto res = error_response(req, 404, nullptr, rpc_code::kInvalidParams, error);
    co_return co_await write(c, res);
  }
  auto created = open_session(c, req, relay::ClientTransport::legacy_sse, std::move(*view),
                              server, endpoint);
  if (!created) {
    auto res = session_refused(req, created.error(), nullptr);
    co_return co_await write(c, res);
  }
  SessionPtr s = *created;
  // The endpoint event: where this client POSTs its messages (relative to this URL).
  std::string prelude = fmt::format("event: endpoint\ndata: /message?sessionId={}\n\n", s->id);
  auto stream = s->standalone();
  const bool keep =
      co_await write_sse(c, req, s, stream, 0, false, std::string(), true, std::move(prelude));
  // For legacy SSE the stream is the session: when it ends, so does the session.
  relay_.close_session(s, "SSE stream closed");
  co_return keep;
}

asio::awaitable<bool> HttpServer::Impl::legacy_post(Conn& c, Request& req, const std::string& sid) {
  if (req.method() != http::verb::post) {
    auto res = error_response(req, 405, nullptr, rpc_code::kInvalidRequest, "Method not allowed");
    res.set(http::field::allow, "POST");
    co_return co_await write(c, res);
  }
  SessionPtr s = sid.empty() ? nullptr : relay_.find_session(sid);
  std::string why = sid.empty() ? "Missing sessionId" : "Session not found";
  if (!s && !sid.empty() && !stopping_) {
    revive_session(c, req, sid, "", why);  // a legacy session is bound to its replica
  }
  if (!s || s->transport != relay::ClientTransport::legacy_sse ||
      !same_principal(s->principal, c.principal)) {
    auto res = stopping_ ? error_response(req, make_error_code(Errc::shutting_down))
                         : error_response(req, make_error_code(Errc::session_not_found), nullptr,
                                          why);
    co_return co_await write(c, res);
  }
  if (!c.key_in_authorization) {
    relay_.saw_authorization(*s, req[http::field::authorization]);
  }
  Response refusal;
  auto parsed = parse_body(req, refusal);
  if (!parsed) {
    co_return co_await write(c, refusal);
  }
  std::vector<json::object> messages;
  if (parsed->is_array()) {
    for (auto& item : parsed->get_array()) {
      if (item.is_object()) {
        messages.push_back(std::move(item.get_object()));
      }
    }
  } else if (parsed->is_object()) {
    messages.push_back(std::move(parsed->get_object()));
  }
  if (messages.empty()) {
    auto res = error_response(req, 400, nullptr, rpc_code::kInvalidRequest,
                              "Invalid Request: expected a JSON-RPC message");
    co_return co_await write(c, res);
  }
  for (auto& msg : messages) {
    std::string_view why;
    const auto kind = jsonrpc::classify(msg, &why);
    if (kind == jsonrpc::Kind::invalid) {
      json::value id = nullptr;
      if (const auto* v = msg.if_contains("id"); v && jsonrpc::valid_id(*v)) {
        id = *v;
      }
      auto res = error_response(req, 400, std::move(id), rpc_code::kInvalidRequest,
                                fmt::format("Invalid Request: {}", why));
      co_return co_await write(c, res);
    }
  }
  // Accepted at once; every reply travels on the session's SSE stream.
  Response res{http::status::accepted, req.version()};
  common_headers(req, res);
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(req.keep_alive());
  res.body() = "Accepted";
  res.prepare_payload();
  const bool keep = co_await write(c, res);
  for (auto& msg : messages) {
    const auto kind = jsonrpc::classify(msg);
    if (kind == jsonrpc::Kind::request) {
      if (jsonrpc::method(msg) == mcp::method::kServerDiscover) {
        s->standalone()->push(jsonrpc::serialize(jsonrpc::make_error(
            msg.at("id"), rpc_code::kMethodNotFound, "Method not found: server/discover")));
        continue;
      }
      asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), s->standalone(), c.request_id, c.traceparent),
                     asio::detached);
    } else if (kind == jsonrpc::Kind::notification) {
      relay_.handle_notification(s, std::move(msg));
    } else {
      relay_.handle_response(s, std::move(msg));
    }
  }
  co_return keep;
}

}  // namespace mcpgw::downstream
