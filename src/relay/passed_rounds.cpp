// MRTR between a stateless client and a server of the same revision (2026-07-28): the server's
// questions pass to the client as they are, under the server's own keys, and the server's
// requestState travels sealed inside the gateway's. Nothing is parked: the client's retry is a
// request of its own, which the gateway checks, unseals and sends on; with a cluster key ring,
// on any replica.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "access/key_store.hpp"
#include "common/clock.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>

namespace mcpgw::relay {

namespace {

/// Bound into every passed requestState: it never opens as another kind of token.
constexpr std::string_view kPurpose = "mcpgw/mrtr/passed/1";

const json::object* params_if(const json::object& msg) {
  const auto* p = msg.if_contains("params");
  return p != nullptr && p->is_object() ? &p->get_object() : nullptr;
}

/// What binds a retry to the round it continues: the request's arguments, digested.
std::string arguments_digest(const json::object& msg) {
  const auto* p = params_if(msg);
  const auto* args = p != nullptr ? p->if_contains("arguments") : nullptr;
  return access::sha256_hex(args != nullptr ? json::serialize(*args) : std::string());
}

std::string principal_of(const Session& s) { return s.principal ? s.principal->name : ""; }

}  // namespace

json::object Relay::pass_input_required(Exchange& ex, const json::object& request,
                                        json::object response) {
  json::object& result = response["result"].as_object();
  const auto* questions = result.if_contains("inputRequests");
  if (questions == nullptr || !questions->is_object() || questions->get_object().empty()) {
    return jsonrpc::make_error(ex.id, rpc_code::kInternalError,
                               fmt::format("Server '{}' answered input_required with no "
                                           "inputRequests",
                                           ex.server));
  }
  // The server was told what this client declared; a question beyond it is refused here.
  const json::object& declared = ex.client_capabilities();
  for (const auto& [key, q] : questions->get_object()) {
    const auto method = q.is_object() ? string_at(q.get_object(), "method") : "";
    const char* needed = mcp::capability_for(method);
    if (needed == nullptr || !declared.contains(needed)) {
      return missing_capability(ex, needed != nullptr ? needed : std::string(method));
    }
  }
  json::object state;
  state["p"] = principal_of(*ex.session);
  state["c"] = ex.session->scope_name;
  state["sv"] = ex.server;
  state["m"] = ex.method;
  state["t"] = ex.target;
  state["d"] = arguments_digest(request);
  state["x"] = unix_ms() + cfg_.gateway.timeouts.call.count();
  if (const auto* upstream_state = result.if_contains("requestState")) {
    state["u"] = *upstream_state;
  }
  json::object passed;
  passed["resultType"] = "input_required";
  passed["inputRequests"] = *questions;
  passed["requestState"] = token_sealer().seal(json::serialize(state), kPurpose);
  ex.outcome = Outcome::input_required;
  return jsonrpc::make_result(ex.id, std::move(passed));
}

std::optional<std::string> Relay::open_passed(const Session& s, json::object& retry,
                                              std::string& server) const {
  json::object& params = retry["params"].as_object();
  const json::value& token = params.at("requestState");
  auto plain = token.is_string() ? token_sealer().open(token.get_string(), kPurpose) : std::nullopt;
  if (!plain) {
    return std::nullopt;  // not a passed round's (the gateway's own rounds, or forged)
  }
  boost::system::error_code ec;
  json::value parsed = json::parse(*plain, ec);
  if (ec || !parsed.is_object()) {
    return std::string("Invalid params: requestState is not one this gateway issued");
  }
  json::object& st = parsed.get_object();
  if (string_at(st, "p") != principal_of(s) || string_at(st, "c") != s.scope_name) {
    return std::string("Invalid params: requestState belongs to another caller");
  }
  const auto* expires = st.if_contains("x");
  if (expires == nullptr || !expires->is_int64() || unix_ms() > expires->get_int64()) {
    return std::string("Invalid params: requestState expired");
  }
  const auto* name = params.if_contains("name");
  const auto* uri = params.if_contains("uri");
  const json::value* target = name != nullptr ? name : uri;
  if (jsonrpc::method(retry) != string_at(st, "m") || target == nullptr ||
      !target->is_string() || target->get_string() != string_at(st, "t") ||
      arguments_digest(retry) != string_at(st, "d")) {
    return fmt::format("Invalid params: a retry must repeat the request it continues ({} {})",
                       string_at(st, "m"), string_at(st, "t"));
  }
  if (const auto* answers = params.if_contains("inputResponses");
      answers != nullptr && !answers->is_object()) {
    return std::string("Invalid params: inputResponses must be an object");
  }
  server = std::string(string_at(st, "sv"));
  // The server gets its own state back, and the answers under its own keys.
  if (auto* upstream_state = st.if_contains("u")) {
    params["requestState"] = std::move(*upstream_state);
  } else {
    params.erase("requestState");
  }
  return std::string();
}

}  // namespace mcpgw::relay
