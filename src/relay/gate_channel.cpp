// The security gate on the channels a server speaks through besides its replies: log
// messages and progress (fenced, and tainting the scope the moment they are delivered, while
// the call that caused them still runs), its own requests to the client (sampling,
// elicitation: fenced, attributed, or refused by policy), and the client's answers to those
// requests on their way back to it (inspected like arguments).
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "jsonrpc/message.hpp"

#include <fmt/format.h>

namespace mcpgw::relay {

gate::Call Relay::channel_call(Session& s, BackendSlot& slot, std::string_view method) {
  gate::Call call;
  call.principal = s.principal ? std::string_view(s.principal->name) : std::string_view("-");
  if (!s.scope) {
    s.scope = gate_->scopes().get(call.principal, s.scope_name, s.id);
  }
  call.method = std::string(method);
  call.server = slot.cfg->name;
  call.name = call.method;
  call.source = fmt::format("{}/{}", slot.cfg->name, method);
  call.scope = s.scope.get();
  call.session = s.id;
  call.labels = gate::resolve_labels(slot.cfg->options, std::string_view(), nullptr);
  return call;
}

bool Relay::gate_server_message(Session& s, BackendSlot& slot, json::object& msg) {
  if (gate_ == nullptr) {
    return true;
  }
  gate::Chain& chain = chain_of(s);  // first: a new gate's chain forgets the old scope
  gate::Call call = channel_call(s, slot, jsonrpc::method(msg));
  const gate::Outcome o = chain.server_message(call, msg);
  if (o.kind == gate::Outcome::Kind::pass) {
    return true;
  }
  if (const auto* id = msg.if_contains("id")) {
    slot.backend->send(gate::Chain::refusal(call, *id, o.reason));
  }
  return false;
}

bool Relay::gate_answer(Session& s, BackendSlot& slot, std::string_view method,
                        json::object& reply, const json::value& backend_id) {
  if (gate_ == nullptr) {
    return true;
  }
  gate::Chain& chain = chain_of(s);
  gate::Call call = channel_call(s, slot, method);
  const gate::Outcome o = chain.answer(call, reply);
  if (o.kind == gate::Outcome::Kind::pass) {
    return true;
  }
  slot.backend->send(gate::Chain::refusal(call, backend_id, o.reason));
  return false;
}

std::optional<json::object> Relay::gate_mid_call(Exchange& ex, std::string_view method,
                                                 json::object& msg, bool answer) {
  if (gate_ == nullptr) {
    return std::nullopt;
  }
  gate::Chain& chain = chain_of(*ex.session);
  gate::Call call = channel_call(*ex.session, *ex.slot, method);
  const gate::Outcome o = answer ? chain.answer(call, msg) : chain.server_message(call, msg);
  if (o.kind == gate::Outcome::Kind::pass) {
    return std::nullopt;
  }
  ex.outcome = Outcome::denied;  // the gate's own words: not fenced as the server's
  return gate::Chain::refusal(call, ex.id, o.reason);
}

}  // namespace mcpgw::relay
