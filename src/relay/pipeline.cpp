// Intake of client requests: the exchange, the method table, and the order of the stages.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "common/error.hpp"
#include "common/log.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace mcpgw::relay {

std::string_view to_string(Outcome o) noexcept {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::tool_error: return "error";
    case Outcome::error: return "error";
    case Outcome::denied: return "denied";
    case Outcome::timeout: return "timeout";
    case Outcome::input_required: return "input_required";
  }
  return "error";
}

Exchange::Exchange(SessionPtr s, json::object req, std::shared_ptr<EventStream> stream)
    : session(std::move(s)),
      out(std::move(stream)),
      request(std::move(req)),
      id(request["id"]),
      method(jsonrpc::method(request)),
      started(Clock::now()) {}

void Exchange::fail(int code, std::string_view message, json::value data) {
  reply = jsonrpc::make_error(id, code, message, std::move(data));
}

void Exchange::classify() {
  if (outcome != Outcome::ok) {
    return;
  }
  if (const auto* e = reply.if_contains("error"); e != nullptr) {
    outcome = Outcome::error;
  } else if (const auto* r = reply.if_contains("result"); r != nullptr && r->is_object()) {
    const auto* is_error = r->get_object().if_contains("isError");
    if (is_error != nullptr && is_error->is_bool() && is_error->get_bool()) {
      outcome = Outcome::tool_error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The method table

const Relay::Method* Relay::find_method(std::string_view name) {
  namespace mm = mcp::method;
  static const Method kMethods[] = {
      {mm::kInitialize, Routing::local, nullptr,
       [](Relay& r, Exchange& ex) { return r.initialize(ex); }},
      {mm::kServerDiscover, Routing::local, nullptr,
       [](Relay& r, Exchange& ex) { return r.discover(ex); }},
      {mm::kPing, Routing::local, nullptr,
       [](Relay&, Exchange& ex) -> asio::awaitable<void> {
         ex.reply = jsonrpc::make_result(ex.id, json::object());
         co_return;
       }},
      {mm::kToolsList, Routing::local, nullptr,
       [](Relay& r, Exchange& ex) { return r.list(ex, ListKind::tools); }},
      {mm::kPromptsList, Routing::local, nullptr,
       [](Relay& r, Exchange& ex) { return r.list(ex, ListKind::prompts); }},
      {mm::kResourcesList, Routing::local, nullptr,
       [](Relay& r, Exchange& ex) { return r.list(ex, ListKind::resources); }},
      {mm::kResourceTemplatesList, Routing::local, nullptr,
       [](Relay& r, Exchange& ex) { return r.list(ex, ListKind::templates); }},
      {mm::kLoggingSetLevel, Routing::local, nullptr,
       [](Relay& r, Exchange& ex) { return r.set_level(ex); }},
      {mm::kToolsCall, Routing::tool, "arguments", &Relay::relay_to_server},
      {mm::kPromptsGet, Routing::prompt, "arguments", &Relay::relay_to_server},
      {mm::kResourcesRead, Routing::resource, nullptr, &Relay::relay_to_server},
      {mm::kResourcesSubscribe, Routing::resource, nullptr,
       [](Relay& r, Exchange& ex) { return r.subscribe(ex); }},
      {mm::kResourcesUnsubscribe, Routing::resource, nullptr,
       [](Relay& r, Exchange& ex) { return r.subscribe(ex); }},
      {mm::kCompletionComplete, Routing::completion, "argument", &Relay::relay_to_server},
  };
  const auto* it = std::find_if(std::begin(kMethods), std::end(kMethods),
                                [&](const Method& m) { return m.name == name; });
  return it == std::end(kMethods) ? nullptr : it;
}

const Relay::Method& Relay::passthrough() {
  // A per-server endpoint forwards methods the gateway does not know (newer protocol features
  // keep working), through the same stages; the params are audited whole.
  static const Method kPassthrough{{}, Routing::server, "", &Relay::relay_to_server};
  return kPassthrough;
}

asio::awaitable<void> Relay::relay_to_server(Relay& r, Exchange& ex) {
  ex.reply = co_await r.forward(ex);
}

// ---------------------------------------------------------------------------------------------
// Intake

asio::awaitable<void> Relay::handle_request(SessionPtr session, json::object request,
                                            std::shared_ptr<EventStream> out,
                                            json::value client_id, StatelessIntake intake) {
  Exchange ex(std::move(session), std::move(request), std::move(out));
  Session& s = *ex.session;
  ex.intake = std::move(intake);
  ex.client_id = std::move(client_id);
  const bool may_ask = can_ask(ex);
  if (may_ask) {
    ex.out->set_asker(&ex);  // rounds open if a question comes (input_required.cpp)
  }
  co_await run_guarded(ex);
  if (may_ask) {
    ex.out->set_asker(nullptr);
  }
  client_id = std::move(ex.client_id);
  auto rounds = std::move(ex.rounds);
  int http_status = 200;
  if (s.protocol_version() == mcp::kModernVersion) {
    mcp::stamp_result(ex.reply, ex.method);
    http_status = mcp::http_status_of(ex.reply);
  }
  if (rounds) {
    if (rounds->stream->between_rounds()) {
      // The call ended while its client was answering a question: the retry gets the reply.
      complete(ex, jsonrpc::serialize(ex.reply).size());
      rounds->final_reply = std::move(ex.reply);
      co_return;
    }
    client_id = rounds->client_id;  // the last round's
    s.rounds.erase(jsonrpc::id_key(ex.id));
  }
  if (!client_id.is_null()) {
    ex.reply["id"] = std::move(client_id);
  }
  const bool cancelled = s.cancelled.erase(jsonrpc::id_key(ex.id)) != 0;
  std::string text = jsonrpc::serialize(ex.reply);
  complete(ex, text.size());
  if (ex.out == s.standalone()) {
    // Legacy SSE: the session's one stream goes on after the reply.
    if (!cancelled) {
      ex.out->push(std::move(text));
    }
  } else if (cancelled && ex.out->sse_ok()) {
    ex.out->finish();  // an SSE reply may end without a response; a JSON reply needs a body
  } else {
    ex.out->push_final(std::move(text), http_status);
  }
}

asio::awaitable<json::object> Relay::call(SessionPtr session, json::object request,
                                          std::string request_id) {
  auto out = session->new_request_stream(false);
  Exchange ex(std::move(session), std::move(request), std::move(out));
  ex.intake.request_id = std::move(request_id);
  co_await run_guarded(ex);
  complete(ex, ex.audit || log::access_enabled() ? jsonrpc::serialize(ex.reply).size() : 0);
  co_return std::move(ex.reply);
}

asio::awaitable<void> Relay::run_guarded(Exchange& ex) {
  ex.session->touch();
  start_trace(ex);
  try {
    co_await run(ex);
  } catch (const std::exception& e) {
    spdlog::error("internal error handling {}: {}", ex.method, e.what());
    ex.fail(rpc_code::kInternalError, "Internal error");
  }
  ex.classify();
  ex.session->touch();
}

asio::awaitable<void> Relay::run(Exchange& ex) {
  const Method* m = find_method(ex.method);
  if (m == nullptr && ex.session->single_server && ex.method != mcp::method::kServerDiscover) {
    m = &passthrough();
  }
  if (m == nullptr) {
    ex.fail(rpc_code::kMethodNotFound, fmt::format("Method not found: {}", ex.method));
    co_return;
  }
  if (m->routing != Routing::local) {
    if (!open_audit(ex, m->args_key) || !co_await admit(ex, m->routing)) {
      co_return;
    }
  }
  if (!ex.intake.refused.empty()) {
    ex.fail(rpc_code::kInvalidParams, ex.intake.refused);
    ex.outcome = Outcome::denied;
    ex.denied = std::move(ex.intake.refused);
    co_return;
  }
  if (m->routing == Routing::local) {
    co_await m->handler(*this, ex);
  } else {
    co_await through_gate(ex, m->handler);
  }
}

}  // namespace mcpgw::relay
