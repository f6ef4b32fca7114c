// MRTR (2026-07-28): a stateless request whose server, or the gate, asks the client something
// mid-call. The question ends the round with an `input_required` reply and a sealed
// requestState; the client's retry brings the answers, and the same call goes on, parked at
// its server all the while. Servers of the older revisions never learn the client is
// stateless: they asked an elicitation, a sampling or the roots, and get an answer.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include "common/error.hpp"

#include <fmt/format.h>

namespace mcpgw::relay {

namespace {

/// How many rounds a server of the stateless revision may ask for before the call fails.
constexpr int kMaxRounds = 10;

/// Bound into every requestState: a token the gateway sealed for something else never opens.
constexpr std::string_view kPurpose = "mcpgw/mrtr/requestState/1";

/// The requests of the revision that may be answered with input_required.
bool may_ask(std::string_view method) {
  namespace mm = mcp::method;
  return method == mm::kToolsCall || method == mm::kPromptsGet || method == mm::kResourcesRead;
}

const json::object* params_if(const json::object& msg) {
  const auto* p = msg.if_contains("params");
  return p != nullptr && p->is_object() ? &p->get_object() : nullptr;
}

/// What the request names: params.name, or params.uri.
std::string target_of(const json::object& msg) {
  const auto* p = params_if(msg);
  if (p == nullptr) {
    return {};
  }
  auto name = string_at(*p, "name");
  return std::string(name.empty() ? string_at(*p, "uri") : name);
}

std::string principal_of(const Session& s) { return s.principal ? s.principal->name : ""; }

}  // namespace

bool Relay::can_ask(const Exchange& ex) const {
  return !ex.client_id.is_null() && ex.session->protocol_version() == mcp::kModernVersion &&
         may_ask(ex.method);
}

std::shared_ptr<Rounds> Relay::open_rounds(Exchange& ex) {
  Session& s = *ex.session;
  // Calls that ended while their client was away, and whose retry never came.
  const auto now = Clock::now();
  std::erase_if(s.rounds, [&](const auto& kv) {
    return kv.second->final_reply && kv.second->expires < now;
  });
  auto r = std::make_shared<Rounds>();
  r->request_id = ex.id;
  r->method = ex.method;
  r->target = ex.target;  // what the client named (the request itself is at its server now)
  r->client_id = ex.client_id;
  r->stream = ex.out;
  s.rounds[jsonrpc::id_key(ex.id)] = r;
  ex.rounds = r;
  return r;
}

bool Relay::deliver_request(Session& s, const std::shared_ptr<EventStream>& out,
                            const json::object& request) {
  if (s.protocol_version() != mcp::kModernVersion) {
    deliver(s, out, request);
    return true;
  }
  if (!out) {
    return false;
  }
  EventStream* current = &out->current();
  if (Exchange* asker = out->asker(); asker != nullptr && !asker->rounds) {
    open_rounds(*asker);  // the request's first question
  }
  for (auto& [key, r] : s.rounds) {
    if (r->stream.get() != current || r->final_reply) {
      continue;
    }
    json::object question;
    question["method"] = request.at("method");
    if (const auto* p = request.if_contains("params")) {
      question["params"] = *p;
    }
    r->asked[std::string(request.at("id").as_string())] = std::move(question);
    if (!current->between_rounds()) {
      end_round(s, key, *r);
    }  // else it goes out with the next round
    return true;
  }
  return false;
}

void Relay::end_round(Session& s, const std::string& key, Rounds& r) {
  json::object inputs;
  for (const auto& [id, question] : r.asked) {
    inputs[id] = question;
  }
  json::object state;
  state["s"] = s.id;
  state["k"] = key;
  state["p"] = principal_of(s);
  state["r"] = replica_;
  json::object result;
  result["resultType"] = "input_required";
  result["inputRequests"] = std::move(inputs);
  result["requestState"] = token_sealer().seal(json::serialize(state), kPurpose);
  r.expires = Clock::now() + cfg_.gateway.timeouts.call;
  r.stream->end_round(jsonrpc::serialize(jsonrpc::make_result(r.client_id, std::move(result))));
}

std::variant<std::shared_ptr<Rounds>, std::string> Relay::check_retry(Session& s,
                                                                       const json::object& retry) {
  const json::object* params = params_if(retry);
  const json::value* token = params ? params->if_contains("requestState") : nullptr;
  if (token == nullptr || !token->is_string()) {
    return std::string("Invalid params: requestState must be a string");
  }
  auto plain = token_sealer().open(token->get_string(), kPurpose);
  boost::system::error_code ec;
  json::value state = plain ? json::parse(*plain, ec) : json::value();
  if (!plain || ec || !state.is_object()) {
    return std::string("Invalid params: requestState is not one this gateway issued, or it was "
                       "altered");
  }
  const auto& st = state.get_object();
  if (string_at(st, "p") != principal_of(s)) {
    return std::string("Invalid params: requestState belongs to another caller");
  }
  if (string_at(st, "r") != replica_) {
    // The call waits at its server, which is of an earlier revision, on the replica that
    // started it: only that replica can give it the answers.
    return fmt::format("Invalid params: the call this requestState continues waits on replica "
                       "\"{}\", not \"{}\"; its retry must reach that replica "
                       "(docs/scale-out.md)", string_at(st, "r"), replica_);
  }
  if (string_at(st, "s") != s.id) {
    return std::string("Invalid params: requestState belongs to another caller");
  }
  auto it = s.rounds.find(std::string(string_at(st, "k")));
  if (it == s.rounds.end()) {
    return std::string("Invalid params: the request this requestState continues has ended");
  }
  auto r = it->second;
  if (!r->stream->between_rounds()) {
    return std::string("Invalid params: this requestState was used already");
  }
  if (Clock::now() > r->expires) {
    return std::string("Invalid params: requestState expired");
  }
  if (jsonrpc::method(retry) != r->method || target_of(retry) != r->target) {
    return fmt::format("Invalid params: a retry must repeat the request it continues ({} {})",
                       r->method, r->target);
  }
  if (const auto* answers = params->if_contains("inputResponses")) {
    if (!answers->is_object()) {
      return std::string("Invalid params: inputResponses must be an object");
    }
    for (const auto& [k, v] : answers->get_object()) {
      if (r->asked.count(k) == 0 || !v.is_object()) {
        return fmt::format("Invalid params: inputResponses.{} {}", std::string_view(k),
                           v.is_object() ? "answers no question of this request"
                                         : "must be an object");
      }
    }
  }
  return r;
}

std::variant<json::value, std::string> Relay::resume(const SessionPtr& session,
                                                     const json::object& retry,
                                                     std::shared_ptr<EventStream> out,
                                                     json::value client_id) {
  auto checked = check_retry(*session, retry);
  if (auto* why = std::get_if<std::string>(&checked)) {
    return std::move(*why);
  }
  auto r = std::get<std::shared_ptr<Rounds>>(std::move(checked));
  const std::string key = jsonrpc::id_key(r->request_id);
  session->touch();
  r->client_id = std::move(client_id);
  r->stream->continue_on(out);
  r->stream = out;
  if (r->final_reply) {
    // The call ended while the client was answering: this round carries its reply.
    json::object reply = std::move(*r->final_reply);
    reply["id"] = r->client_id;
    const int status = mcp::http_status_of(reply);
    out->push_final(jsonrpc::serialize(reply), status);
    json::value id = r->request_id;
    session->rounds.erase(key);
    return id;
  }
  const auto* params = params_if(retry);
  if (const auto* answers = params->if_contains("inputResponses")) {
    for (const auto& [k, v] : answers->get_object()) {
      r->asked.erase(k);
      handle_response(session, jsonrpc::make_result(json::string(k), v.get_object()));
    }
  }
  if (!r->asked.empty()) {
    end_round(*session, key, *r);  // what is still unanswered, or came meanwhile
  }
  return r->request_id;
}

// ---------------------------------------------------------------------------------------------
// The other way: a server of the stateless revision asks, the client is of any revision.

asio::awaitable<json::object> Relay::fulfil_input(Exchange& ex, const json::object& original,
                                                  json::object response, InFlight& inflight,
                                                  Clock::time_point deadline,
                                                  std::vector<std::pair<std::string, std::string>>
                                                      headers) {
  auto backend = ex.slot->backend;
  for (int round = 1; mcp::is_input_required(response); ++round) {
    if (round > kMaxRounds) {
      co_return jsonrpc::make_error(
          ex.id, rpc_code::kInternalError,
          fmt::format("Server '{}' still asked for input after {} rounds", ex.server,
                      kMaxRounds));
    }
    json::object& result = response["result"].as_object();
    json::object answers;
    if (const auto* questions = result.if_contains("inputRequests");
        questions != nullptr && questions->is_object()) {
      for (const auto& [key, question] : questions->get_object()) {
        auto answer = co_await ask_for(ex, question, deadline);
        if (auto* refusal = std::get_if<json::object>(&answer)) {
          co_return std::move(*refusal);
        }
        answers[key] = std::get<json::value>(std::move(answer));
      }
    }
    json::object retry = original;
    json::object& params = params_of(retry);
    if (!answers.empty()) {
      params["inputResponses"] = std::move(answers);
    }
    if (const auto* state = result.if_contains("requestState")) {
      params["requestState"] = *state;
    }
    auto call = backend->send_request(std::move(retry), headers);
    inflight.call = call;
    if (!co_await call->done.wait_until(deadline)) {
      backend->cancel(*call, make_error_code(Errc::upstream_timeout), "mcpgw: no response in time");
    }
    if (call->ec) {
      co_return jsonrpc::make_error(ex.id, to_rpc_code(call->ec),
                                    call->detail.empty() ? call->ec.message() : call->detail);
    }
    response = std::move(*call->response);
  }
  co_return response;
}

asio::awaitable<std::variant<json::value, json::object>> Relay::ask_for(
    Exchange& ex, const json::value& question, Clock::time_point deadline) {
  const json::object* q = question.is_object() ? &question.get_object() : nullptr;
  const std::string method(q ? string_at(*q, "method") : std::string_view());
  const char* needed = mcp::capability_for(method);
  if (needed == nullptr || !ex.client_capabilities().contains(needed)) {
    co_return missing_capability(ex, needed != nullptr ? needed : method);
  }
  json::object params;
  if (const auto* p = q->if_contains("params"); p != nullptr && p->is_object()) {
    params = p->get_object();
  }
  json::object question_msg = jsonrpc::make_request(json::value(0), method, std::move(params));
  if (auto refused = gate_mid_call(ex, method, question_msg, false)) {
    co_return std::move(*refused);  // the gate refuses the server's question: the call ends
  }
  params = std::move(params_of(question_msg));
  auto answer = co_await ask_client(ex.session, ex.out, method, std::move(params), deadline);
  if (!answer) {
    co_return jsonrpc::make_error(ex.id, rpc_code::kInternalError,
                                  fmt::format("The client did not answer the {} of server '{}'",
                                              method, ex.server));
  }
  if (auto refused = gate_mid_call(ex, method, *answer, true)) {
    co_return std::move(*refused);  // the answer never reaches the server
  }
  if (auto* result = answer->if_contains("result")) {
    co_return std::move(*result);
  }
  const auto* e = answer->if_contains("error");
  co_return jsonrpc::make_error(
      ex.id, rpc_code::kInternalError,
      fmt::format("The client refused the {} of server '{}': {}", method, ex.server,
                  e ? json::serialize(*e) : std::string("no result")));
}

}  // namespace mcpgw::relay
