// The 2026-07-28 revision on the Streamable HTTP URLs: stateless requests that name their
// revision in `_meta`, served beside the sessions of the older revisions (dual era, decided per
// request). Each caller's requests run in one hidden session (its principal, endpoint, view,
// scope and forwarded credentials), so the stages, the taint scope and the servers' sessions
// are those of a session; the client never sees it.
#include "downstream/server_impl.hpp"

#include "mcp/modern.hpp"

namespace mcpgw::downstream {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kWatchCloseAfter = std::chrono::milliseconds(20);

/// What a modern client may ask of the gateway (discover, the lists, calls, reads, completion).
bool served_modern(std::string_view method) {
  namespace mm = mcp::method;
  for (auto m : {mm::kServerDiscover, mm::kToolsList, mm::kToolsCall, mm::kPromptsList,
                 mm::kPromptsGet, mm::kResourcesList, mm::kResourceTemplatesList,
                 mm::kResourcesRead, mm::kCompletionComplete, mm::kSubscriptionsListen}) {
    if (m == method) {
      return true;
    }
  }
  return false;
}

/// A retry that continues a request which needed the client's input (MRTR).
bool is_retry(const json::object& msg) {
  const auto* p = msg.if_contains("params");
  return p != nullptr && p->is_object() && p->get_object().contains("requestState");
}

}  // namespace

bool HttpServer::Impl::is_modern_request(const Request& req, const json::object& msg,
                                         jsonrpc::Kind kind) {
  if (kind == jsonrpc::Kind::response || kind == jsonrpc::Kind::invalid ||
      !req[kSessionHeader].empty()) {
    return false;  // a session's traffic stays the session's
  }
  return !mcp::meta_version(msg).empty() || req[kVersionHeader] == mcp::kModernVersion ||
         jsonrpc::method(msg) == mcp::method::kServerDiscover;
}

HttpServer::Impl::ModernHeaders HttpServer::Impl::read_modern_headers(const Request& req) {
  constexpr std::string_view kParam = "mcp-param-";
  ModernHeaders h;
  for (const auto& field : req) {
    const auto name = field.name_string();
    if (field.name() == http::field::authorization) {
      h.key.append("\nauthorization:").append(field.value());
    } else if (name.size() > 6 && beast::iequals(name.substr(0, 6), "x-mcp-")) {
      h.key.append("\n").append(name).append(":").append(field.value());
    } else if (name.size() < 8 || !beast::iequals(name.substr(0, 4), "mcp-")) {
      continue;  // most headers: none of the revision's
    } else if (beast::iequals(name, kVersionHeader)) {
      h.version = field.value();
    } else if (beast::iequals(name, "mcp-method")) {
      h.method = field.value();
    } else if (beast::iequals(name, "mcp-name")) {
      h.name = field.value();
    } else if (name.size() > kParam.size() && beast::iequals(name.substr(0, kParam.size()), kParam)) {
      h.params.emplace_back(lower(name.substr(kParam.size())), std::string(field.value()));
    }
  }
  return h;
}

std::optional<Response> HttpServer::Impl::modern_refusal(const Request& req,
                                                         const ModernHeaders& h,
                                                         const json::object& msg,
                                                         jsonrpc::Kind kind) {
  const json::value id = kind == jsonrpc::Kind::request ? msg.at("id") : json::value(nullptr);
  const auto version = mcp::meta_version(msg);
  const auto header = h.version;
  if (version.empty() && header != mcp::kModernVersion) {
    return std::nullopt;  // server/discover from a client of an older revision (a probe)
  }
  if (!version.empty() && !header.empty() && header != version) {
    // Checked before the version itself: the body and its mirror disagree.
    return error_response(req, 400, id, rpc_code::kHeaderMismatch,
                          fmt::format("Bad Request: the request headers and body disagree: the "
                                      "MCP-Protocol-Version header says \"{}\" but _meta says "
                                      "\"{}\"",
                                      std::string_view(header), version));
  }
  if (!version.empty() && version != mcp::kModernVersion) {
    json::array supported;
    for (auto v : mcp::kDiscoverVersions) {
      supported.emplace_back(v);
    }
    json::object data;
    data["supported"] = std::move(supported);
    data["requested"] = version;
    return json_response(req, 400, jsonrpc::serialize(jsonrpc::make_error(
        id, rpc_code::kUnsupportedVersion,
        fmt::format("Unsupported protocol version: {} (initialize for the older revisions)",
                    version),
        std::move(data))));
  }
  if (auto key = mcp::missing_meta(msg); !key.empty()) {
    return error_response(req, 400, id, rpc_code::kInvalidParams,
                          fmt::format("Invalid params: _meta lacks {}", key));
  }
  const auto why = mcp::check_mirrored(msg, {h.version, h.method, h.name});
  if (!why.empty()) {
    return error_response(req, 400, id, rpc_code::kHeaderMismatch,
                          fmt::format("Bad Request: the request headers and body disagree: {}",
                                      why));
  }
  if (kind == jsonrpc::Kind::request && !served_modern(jsonrpc::method(msg))) {
    return error_response(req, 404, id, rpc_code::kMethodNotFound,
                          fmt::format("Method not found: {}", jsonrpc::method(msg)));
  }
  return std::nullopt;
}

std::variant<SessionPtr, Response> HttpServer::Impl::modern_session(
    const Conn& c, const Request& req, const ModernHeaders& h, const std::string& server,
    const std::string& endpoint, json::object client_info, const json::value& id) {
  // The key is made of the request's own values (every x-mcp-* header among them: the view and
  // the headers passed to servers), so a caller's next request finds its session without
  // resolving its view again.
  std::string key;
  key.reserve(endpoint.size() + c.peer_text.size() + c.scope.size() + h.key.size() + 64);
  key.append(endpoint).append("\n");
  key.append(c.principal ? std::string_view(c.principal->name) : std::string_view(c.peer_text));
  key.append(c.principal ? "\np\n" : "\na\n").append(c.scope).append(h.key);
  if (auto it = modern_sessions_.find(key); it != modern_sessions_.end()) {
    if (!it->second->closed()) {
      if (!c.key_in_authorization) {
        relay_.saw_authorization(*it->second, req[http::field::authorization]);
      }
      return it->second;
    }
    modern_sessions_.erase(it);
  }
  std::string error;
  auto view = relay_.resolve_view(server, req["x-mcp-servers"], c.principal.get(), error);
  if (!view) {
    return error_response(req, 404, id, rpc_code::kInvalidParams, error);
  }
  auto created = open_session(c, req, relay::ClientTransport::streamable_http, std::move(*view),
                              server, endpoint);
  if (!created) {
    return session_refused(req, created.error(), id);
  }
  relay_.adopt_modern(**created, std::move(client_info));
  std::erase_if(modern_sessions_, [](const auto& kv) { return kv.second->closed(); });
  modern_sessions_[std::move(key)] = *created;
  return *created;
}

asio::awaitable<bool> HttpServer::Impl::modern_post(Conn& c, Request& req, json::object msg,
                                                    jsonrpc::Kind kind, const std::string& server,
                                                    const std::string& endpoint,
                                                    Accepts accepts) {
  ModernHeaders h = read_modern_headers(req);
  if (auto refusal = modern_refusal(req, h, msg, kind)) {
    co_return co_await write(c, *refusal);
  }
  if (kind == jsonrpc::Kind::notification) {
    // Nothing a modern client notifies needs the gateway yet (a request is cancelled by
    // closing its stream).
    co_return co_await write_json(c, req, 202, {}, {});
  }
  const json::value id = msg.at("id");
  auto envelope = mcp::take_envelope(msg);
  auto session =
      modern_session(c, req, h, server, endpoint, std::move(envelope.client_info), id);
  if (auto* refusal = std::get_if<Response>(&session)) {
    co_return co_await write(c, *refusal);
  }
  SessionPtr s = std::get<SessionPtr>(std::move(session));
  if (s->client_capabilities() != envelope.client_capabilities) {
    s->update_capabilities(envelope.client_capabilities);  // the listen's, and new backends'
  }
  if (jsonrpc::method(msg) == mcp::method::kSubscriptionsListen) {
    co_return co_await modern_listen(c, req, s, std::move(msg), id, accepts);
  }
  auto out = s->new_request_stream(accepts.sse);
  if (!envelope.log_level.empty()) {
    out->set_log_rank(mcp::log_level_rank(envelope.log_level));
  }
  json::value gateway_id;
  relay::StatelessIntake intake;
  intake.client_capabilities = std::move(envelope.client_capabilities);
  // A retry of a round a server of this revision asked for goes on as a request of its own;
  // a retry of a round the gateway asked for continues the call parked at its server.
  std::optional<std::string> passed;
  std::string passed_server;
  const bool retry = is_retry(msg);
  if (retry) {
    passed = relay_.open_passed(*s, msg, passed_server);
  }
  if (retry && !passed) {
    // The answers to a question the request asked (input_required): the same call goes on.
    auto resumed = relay_.resume(s, msg, out, id);
    if (auto* why = std::get_if<std::string>(&resumed)) {
      intake.refused = std::move(*why);
    } else {
      gateway_id = std::get<json::value>(std::move(resumed));
    }
  } else if (passed && !passed->empty()) {
    intake.refused = std::move(*passed);
  } else {
    intake.continues = passed.has_value();
    intake.continues_at = std::move(passed_server);
  }
  if (gateway_id.is_null()) {
    // A request, or a retry refused (answered by the pipeline, so it is audited). Clients
    // share the hidden session and number their requests alike (the v2 SDK from 0): each
    // request travels under an id of the gateway's; the reply gets the client's back.
    gateway_id = next_modern_id_++;
    msg["id"] = gateway_id;
    intake.mirrored = true;
    intake.param_headers = std::move(h.params);
    intake.request_id = c.request_id;
    intake.traceparent = c.traceparent;
    asio::co_spawn(ioc_, relay_.handle_request(s, std::move(msg), out, id, std::move(intake)),
                   asio::detached);
  }
  // Named local, not a temporary, in the co_await (g++ 12 coroutine temporaries).
  const std::string version(mcp::kModernVersion);
  const bool keep = co_await reply(c, req, s, out, accepts, version, false);
  if (!out->finished()) {
    // The client closed the stream before the answer: in this revision, that is the cancel.
    json::object params;
    params["requestId"] = gateway_id;
    params["reason"] = "the client closed the request's stream";
    relay_.handle_notification(s, jsonrpc::make_notification(mcp::method::kCancelled,
                                                             std::move(params)));
  }
  co_return keep;
}

asio::awaitable<bool> HttpServer::Impl::modern_listen(Conn& c, Request& req, SessionPtr s,
                                                      json::object msg, json::value id,
                                                      Accepts accepts) {
  if (!accepts.sse) {
    auto res = error_response(req, 406, id, rpc_code::kServerError,
                              "Not Acceptable: subscriptions/listen answers with "
                              "text/event-stream");
    co_return co_await write(c, res);
  }
  auto out = s->new_request_stream(true);
  auto refused = co_await relay_.listen(s, std::move(msg), out, id);
  if (refused) {
    const std::string body = jsonrpc::serialize(*refused);
    co_return co_await write_json(c, req, 200, body, {});
  }
  // Open until the client leaves (or the gateway stops): that ends the subscription.
  const bool keep = co_await write_sse(c, req, s, out, 0, false, std::string(), false,
                                       std::string());
  co_await relay_.unlisten(s, out);
  co_return keep;
}

asio::awaitable<bool> HttpServer::Impl::first_event_or_close(Conn& c, EventStream& out) {
  // Most answers come at once. Watching the connection costs a read and its cancellation per
  // request, so only a request still unanswered after a moment is watched.
  if (out.size() == 0 && !out.finished()) {
    out.wake().reset();
    co_await out.wake().wait_until(Clock::now() + kWatchCloseAfter);
  }
  while (out.size() == 0 && !out.finished()) {
    out.wake().reset();
    if (!c.probing) {
      co_await out.wake().wait_until(Clock::time_point::max());
      continue;
    }
    auto which = co_await (out.wake().wait_until(Clock::time_point::max()) || probe(c));
    if (which.index() == 1) {
      if (std::get<1>(which)) {
        co_return false;  // the client went away
      }
      c.probing = false;  // pipelined bytes: they wait in the buffer for their turn
    }
  }
  co_return true;
}

}  // namespace mcpgw::downstream
