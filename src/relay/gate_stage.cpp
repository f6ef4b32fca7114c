// The security gate stage: a request crosses the session's filter chain on its way to the
// server (a filter may deny it, or hold it for an approval) and its reply crosses it back.
#include "relay/relay.hpp"
#include "gate/filters.hpp"
#include "relay/util.hpp"

#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>

namespace mcpgw::relay {

namespace {

/// A reply the security gate made when it refused the call.
bool gate_denied(const json::object& reply) {
  const auto* e = reply.if_contains("error");
  if (e == nullptr || !e->is_object()) {
    return false;
  }
  const auto* code = e->get_object().if_contains("code");
  return code != nullptr && code->is_int64() && code->get_int64() == gate::kGateDenied;
}

void join(std::string& into, const std::vector<std::string>& decisions) {
  for (const auto& d : decisions) {
    into += into.empty() ? d : "; " + d;
  }
}

}  // namespace

/// How the chain reaches the client while a call waits for an approval: an elicitation when
/// the client declared it, and progress (or a log message) while it waits. Lives on the
/// call's frame: nothing is made for the calls that never wait.
class Relay::GateLink final : public gate::ClientLink {
 public:
  GateLink(Relay& relay, const Exchange& ex) : relay_(relay), session_(ex.session), out_(ex.out) {
    if (const json::value* t = jsonrpc::progress_token(ex.request)) {
      token_ = *t;
    }
    can_elicit_ = ex.client_capabilities().contains("elicitation");
  }

  bool can_elicit() const override { return can_elicit_; }

  asio::awaitable<std::optional<bool>> elicit(std::string message) override {
    json::object params;
    params["message"] = std::move(message);
    json::object schema;
    schema["type"] = "object";
    schema["properties"] = json::object();
    params["requestedSchema"] = std::move(schema);
    const auto deadline = Clock::now() + relay_.gate_->config().approval_timeout;
    auto answer = co_await relay_.ask_client(session_, out_, mcp::method::kElicitationCreate,
                                             std::move(params), deadline);
    const auto* result = answer ? answer->if_contains("result") : nullptr;
    if (result == nullptr || !result->is_object()) {
      co_return std::nullopt;
    }
    co_return string_at(result->get_object(), "action") == "accept";
  }

  void waiting(const std::string& message, bool first) override {
    Session& s = *session_;
    if (token_) {
      json::object p;
      p["progressToken"] = *token_;
      p["progress"] = ++told_;
      p["message"] = message;
      relay_.deliver(s, out_, jsonrpc::make_notification(mcp::method::kProgress, std::move(p)));
    } else if (first && (s.log_rank < 0 || s.log_rank <= mcp::log_level_rank("warning"))) {
      json::object p;
      p["level"] = "warning";
      p["logger"] = "mcpgw";
      p["data"] = message;
      relay_.deliver(s, out_, jsonrpc::make_notification(mcp::method::kMessage, std::move(p)));
    }
  }

 private:
  Relay& relay_;
  SessionPtr session_;
  std::shared_ptr<EventStream> out_;
  std::optional<json::value> token_;
  bool can_elicit_ = false;
  int told_ = 0;
};

asio::awaitable<void> Relay::through_gate(Exchange& ex, Handler handler) {
  if (gate_ == nullptr) {
    co_await handler(*this, ex);
    co_return;
  }
  // Held: a reload may give the session a new chain while this call is in this one.
  const std::shared_ptr<gate::Chain> held = chain_of(*ex.session).shared_from_this();
  gate::Chain& chain = *held;
  // A tool's labels may come from its annotations: its server's list, fetched when not cached.
  std::shared_ptr<const json::array> tools;
  if (ex.method == mcp::method::kToolsCall) {
    tools = ex.slot->cache(ListKind::tools).items;
    if (!tools) {
      tools = co_await fetch_list(*ex.slot, ListKind::tools, ex.session);
    }
  }
  gate::Call call = gate_call(ex, chain, tools);
  GateLink link(*this, ex);
  call.client = &link;
  // What other replicas marked in this scope (gateway.cluster.redis), before deciding.
  const std::shared_ptr<gate::SharedScopes> shared = shared_scopes_;
  const auto ttl = gate_->config().scope_idle;
  if (shared && !ex.intake.continues) {
    const bool out = gate::may_send_out(call);
    if (auto refused = co_await shared->pull(*call.scope, ttl, out)) {
      ex.reply = gate::Chain::refusal(call, ex.id, *refused);
      ex.outcome = Outcome::denied;
      co_return;
    }
  }
  // A later round of a call already let through (the client answered its server's question)
  // is not decided again, but the answers it carries to the server are inspected; its result
  // still crosses the chain.
  gate::Outcome outcome;
  if (!ex.intake.continues) {
    gate::Chain::Step at;
    if (auto now = chain.request_now(call, at)) {
      outcome = std::move(*now);
    } else {
      outcome = co_await chain.request(call, at);  // a filter waits on I/O, or a human
    }
  } else {
    outcome = passed_answers(ex, chain);
  }
  if (outcome.kind == gate::Outcome::Kind::deny) {
    join(ex.decisions, call.decisions);
    ex.reply = gate::Chain::refusal(call, ex.id, outcome.reason);
    ex.outcome = Outcome::denied;
    co_return;
  }
  call.params = nullptr;  // the request goes to the server now
  co_await handler(*this, ex);
  if (ex.outcome == Outcome::denied) {
    join(ex.decisions, call.decisions);  // the gate refused a question or an answer mid-call
    co_return;
  }
  if (gate::Chain::Step at; !chain.result_now(call, ex.reply, at)) {
    co_await chain.result(call, ex.reply, at);
  }
  join(ex.decisions, call.decisions);
  if (shared) {  // what this result marked, shared before the client can act on it
    if (auto refused = co_await shared->push(*call.scope, ttl)) {
      ex.reply = gate::Chain::refusal(call, ex.id, "the result is withheld: " + *refused);
    }
  }
  if (gate_denied(ex.reply)) {
    ex.outcome = Outcome::denied;  // the result was withheld
  }
}

/// The client's answers to a server's questions, in the retry of a passed round
/// (`inputResponses`): they go to that server like any answer, so they cross Chain::answer.
gate::Outcome Relay::passed_answers(Exchange& ex, gate::Chain& chain) {
  const auto* answers = params_of(ex.request).if_contains("inputResponses");
  if (answers == nullptr || !answers->is_object()) {
    return gate::Outcome::pass();
  }
  for (const auto& kv : answers->get_object()) {
    gate::Call call = channel_call(*ex.session, *ex.slot, "inputResponses");
    json::object reply;
    reply["result"] = kv.value();
    gate::Outcome o = chain.answer(call, reply);
    if (o.kind != gate::Outcome::Kind::pass) {
      return o;
    }
  }
  return gate::Outcome::pass();
}

/// The call as the filters see it: where it goes, its labels, its scope. `tools`: the
/// server's tool list, for a tools/call.
gate::Call Relay::gate_call(Exchange& ex, gate::Chain& chain,
                            const std::shared_ptr<const json::array>& tools) {
  Session& s = *ex.session;
  BackendSlot& slot = *ex.slot;
  gate::Call call;
  call.principal = s.principal ? std::string_view(s.principal->name) : std::string_view("-");
  if (!s.scope) {
    s.scope = gate_->scopes().get(call.principal, s.scope_name, s.id);
  }
  s.scope->last_used = Clock::now();
  call.method = ex.method;
  call.server = slot.cfg->name;
  call.name = ex.name;
  call.source.reserve(slot.cfg->name.size() + 1 + ex.name.size());
  call.source.append(slot.cfg->name).append(1, '/').append(ex.name);
  call.params = &params_of(ex.request);
  call.scope = s.scope.get();
  call.session = s.id;
  const bool tool = ex.method == mcp::method::kToolsCall;
  const json::object* annotations = nullptr;
  if (tool) {
    chain.tools_listed(slot.cfg->name, tools);
    if (const json::object* t = upstream::find_tool(tools, slot.cache(ListKind::tools), ex.name)) {
      const auto* a = t->if_contains("annotations");
      annotations = a != nullptr && a->is_object() ? &a->get_object() : nullptr;
    }
  }
  call.labels = gate::resolve_labels(slot.cfg->options, tool ? std::string_view(ex.name)
                                                            : std::string_view(),
                                     annotations);
  return call;
}

gate::Chain& Relay::chain_of(Session& s) {
  if (!s.chain || !s.chain->current(*gate_)) {
    if (s.chain && &s.chain->gate() != gate_) {
      s.scope.reset();  // a gate made anew by a reload: its scopes are its own
    }
    s.chain = gate_->new_chain();
  }
  return *s.chain;
}

void Relay::tools_changed(std::string_view server) {
  const json::object note = jsonrpc::make_notification(mcp::method::kToolsListChanged,
                                                       json::object());
  for (auto& [id, s] : sessions_) {
    if (s->initialized() && !s->closed() && s->in_view(server)) {
      deliver(*s, nullptr, note);
    }
  }
}

void Relay::pins_changed(std::string_view server) {
  const std::string name(server);
  if (auto it = shared_.find(name); it != shared_.end()) {
    it->second->cache(ListKind::tools) = ListCache{};
  }
  for (auto& [id, s] : sessions_) {
    if (auto it = s->isolated.find(name); it != s->isolated.end()) {
      it->second->cache(ListKind::tools) = ListCache{};
    }
  }
  tools_changed(server);
}

asio::awaitable<std::optional<json::object>> Relay::ask_client(SessionPtr s,
                                                               std::shared_ptr<EventStream> out,
                                                               std::string_view method,
                                                               json::object params,
                                                               Clock::time_point deadline) {
  json::value client_id(fmt::format("mcpgw-{}", s->next_server_request++));
  auto ask = std::make_shared<GatewayAsk>(ex_);
  const std::string key = jsonrpc::id_key(client_id);
  s->server_requests[key] = PendingServerRequest{nullptr, client_id, std::string(method), ask};
  if (!deliver_request(*s, out, jsonrpc::make_request(client_id, method, std::move(params)))) {
    s->server_requests.erase(key);
    co_return std::nullopt;
  }
  co_await ask->done.wait_until(deadline);
  s->server_requests.erase(key);
  co_return std::move(ask->answer);
}

}  // namespace mcpgw::relay
