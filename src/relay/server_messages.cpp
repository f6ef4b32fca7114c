// Messages from servers: notifications, progress and server→client requests, each to the
// session it belongs to.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "common/error.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::relay {

using upstream::BackendState;

std::optional<Relay::Target> Relay::attribute(BackendSlot& slot, bool& ambiguous) {
  ambiguous = false;
  InFlight* newest = nullptr;
  Session* who = nullptr;
  for (InFlight* f : slot.inflight) {
    auto session = f->session.lock();
    if (!session || session->closed()) {
      continue;
    }
    if (who != nullptr && who != session.get()) {
      ambiguous = true;
    }
    who = session.get();
    if (newest == nullptr || f->order > newest->order) {
      newest = f;
    }
  }
  if (slot.owner != nullptr) {
    // An isolated backend has exactly one client.
    if (slot.owner->closed()) {
      return std::nullopt;
    }
    ambiguous = false;
    return Target{slot.owner->shared_from_this(), newest ? newest->out : nullptr, newest};
  }
  if (ambiguous || newest == nullptr) {
    return std::nullopt;
  }
  return Target{newest->session.lock(), newest->out, newest};
}

void Relay::deliver(Session& s, const std::shared_ptr<EventStream>& preferred,
                    const json::object& msg) {
  if (!preferred && s.protocol_version() == mcp::kModernVersion) {
    publish(s, msg);  // a stateless caller hears changes only on its listen streams
    return;
  }
  std::string text = jsonrpc::serialize(msg);
  if (preferred) {
    // A stateless request's stream of the moment (between rounds, held for the next).
    EventStream& to = preferred->current();
    if (to.between_rounds() || (to.sse_ok() && !to.finished())) {
      to.push(std::move(text));
      return;
    }
  }
  s.standalone()->push(std::move(text));
}

void Relay::notify_sessions(BackendSlot& slot, std::string_view method) {
  const json::object note = jsonrpc::make_notification(method, json::object());
  for_each_session_of(slot, [&](Session& s) { deliver(s, nullptr, note); });
}

void Relay::on_backend_message(BackendSlot& slot, json::object&& msg) {
  const std::string m(jsonrpc::method(msg));
  namespace mm = mcp::method;
  if (m == mm::kSubscriptionsAcknowledged) {
    return;  // the gateway's own listen at a server of 2026-07-28 is open
  }
  if (auto* p = msg.if_contains("params"); p != nullptr && p->is_object()) {
    if (auto* meta = p->get_object().if_contains("_meta"); meta != nullptr && meta->is_object()) {
      meta->get_object().erase(mcp::meta::kSubscriptionId);  // that listen's, not a client's
    }
  }
  if (msg.contains("id")) {
    forward_server_request(slot, std::move(msg));
  } else if (m == mm::kProgress) {
    deliver_progress(slot, msg);
  } else if (m == mm::kCancelled) {
    deliver_server_cancel(slot, msg);
  } else if (m == mm::kToolsListChanged || m == mm::kPromptsListChanged ||
             m == mm::kResourcesListChanged) {
    if (m == mm::kToolsListChanged) {
      slot.cache(ListKind::tools) = ListCache{};
    } else if (m == mm::kPromptsListChanged) {
      slot.cache(ListKind::prompts) = ListCache{};
    } else {
      slot.cache(ListKind::resources) = ListCache{};
      slot.cache(ListKind::templates) = ListCache{};
    }
    notify_sessions(slot, m);
  } else if (m == mm::kResourcesUpdated) {
    const std::string uri(string_at(params_of(msg), "uri"));
    for_each_session_of(slot, [&](Session& s) {
      const std::string exposed =
          s.single_server ? uri : mcp::Naming::expose_uri(slot.cfg->name, uri);
      if (s.subscriptions.count(exposed) != 0) {
        json::object copy = msg;
        copy["params"].as_object()["uri"] = exposed;
        deliver(s, nullptr, copy);
      }
    });
  } else {
    deliver_log(slot, msg);
  }
}

void Relay::deliver_progress(BackendSlot& slot, json::object& msg) {
  json::object& params = params_of(msg);
  const json::value* token = params.if_contains("progressToken");
  if (token == nullptr || !(token->is_int64() || token->is_uint64())) {
    return;
  }
  auto it = progress_.find(token->is_int64() ? token->get_int64()
                                             : static_cast<std::int64_t>(token->get_uint64()));
  if (it == progress_.end()) {
    return;  // the request already finished
  }
  auto session = it->second.session.lock();
  if (!session || session->closed()) {
    return;
  }
  params["progressToken"] = it->second.client_token;
  if (gate_server_message(*session, slot, msg)) {
    deliver(*session, it->second.out.lock(), msg);
  }
}

void Relay::deliver_server_cancel(BackendSlot& slot, json::object& msg) {
  // The server gave up on one of its own requests to a client.
  json::object& params = params_of(msg);
  const json::value* rid = params.if_contains("requestId");
  if (rid == nullptr) {
    return;
  }
  auto it = slot.server_requests.find(jsonrpc::id_key(*rid));
  if (it == slot.server_requests.end()) {
    return;
  }
  auto route = std::move(it->second);
  slot.server_requests.erase(it);
  if (auto session = route.session.lock(); session && !session->closed()) {
    session->server_requests.erase(jsonrpc::id_key(route.client_id));
    params["requestId"] = route.client_id;
    deliver(*session, nullptr, msg);
  }
}

void Relay::deliver_log(BackendSlot& slot, json::object& msg) {
  // Logging and anything else: to the session whose request is running, else to every
  // session that sees this server (a shared server's log is shared).
  const int rank = jsonrpc::method(msg) == mcp::method::kMessage
                       ? mcp::log_level_rank(string_at(params_of(msg), "level"))
                       : -1;
  bool ambiguous = false;
  if (auto target = attribute(slot, ambiguous)) {
    // A stateless request names its own level; a session's requests share the session's.
    int wanted = target->out ? target->out->current().log_rank() : -1;
    if (wanted < 0) {
      wanted = target->session->log_rank;
    }
    if ((rank < 0 || rank >= wanted) && gate_server_message(*target->session, slot, msg)) {
      deliver(*target->session, target->out, msg);
    }
    return;
  }
  for_each_session_of(slot, [&](Session& s) {
    if (rank >= 0 && rank < s.log_rank) {
      return;
    }
    if (gate_ == nullptr) {
      deliver(s, nullptr, msg);
      return;
    }
    json::object mine = msg;  // each session's gate fences (and may refuse) its own copy
    if (gate_server_message(s, slot, mine)) {
      deliver(s, nullptr, mine);
    }
  });
}

void Relay::forward_server_request(BackendSlot& slot, json::object&& msg) {
  const std::string m(jsonrpc::method(msg));
  const json::value backend_id = msg.at("id");
  auto answer_error = [&](int code, std::string message) {
    slot.backend->send(jsonrpc::make_error(backend_id, code, message));
  };
  if (m == mcp::method::kPing) {
    slot.backend->send(jsonrpc::make_result(backend_id, json::object()));
    return;
  }
  bool ambiguous = false;
  auto target = attribute(slot, ambiguous);
  if (!target) {
    spdlog::warn("[{}] {}: {}", slot.cfg->name, m,
                 ambiguous ? "several client sessions are using this shared server; cannot tell "
                             "which one this request is for"
                           : "no client session is waiting on this server");
    answer_error(rpc_code::kInternalError,
                 ambiguous ? fmt::format("mcpgw: cannot tell which client session this {} is for "
                                         "(several share server '{}'; set gateway.servers.{}."
                                         "isolation to \"session\")", m, slot.cfg->name,
                                         slot.cfg->name)
                           : fmt::format("mcpgw: no client session is waiting on server '{}'",
                                         slot.cfg->name));
    return;
  }
  Session& s = *target->session;
  const char* needed = mcp::capability_for(m);
  const json::object& declared = target->inflight && target->inflight->capabilities
                                     ? *target->inflight->capabilities
                                     : s.client_capabilities();
  if (needed != nullptr && !declared.contains(needed)) {
    answer_error(rpc_code::kMethodNotFound, fmt::format("Client does not support {}", needed));
    if (s.protocol_version() == mcp::kModernVersion && target->inflight != nullptr) {
      target->inflight->missing_capability = needed;  // the revision's answer: -32021
    }
    return;
  }
  if (!gate_server_message(s, slot, msg)) {
    return;  // the server has the gate's refusal
  }
  // Server request ids are per server; clients see one id space per session.
  json::value client_id(fmt::format("mcpgw-{}", s.next_server_request++));
  s.server_requests[jsonrpc::id_key(client_id)] = PendingServerRequest{slot.shared_from_this(), backend_id, m};
  slot.server_requests[jsonrpc::id_key(backend_id)] =
      BackendSlot::ServerRequestRoute{target->session, client_id};
  msg["id"] = client_id;
  if (!deliver_request(s, target->out, msg)) {
    s.server_requests.erase(jsonrpc::id_key(client_id));
    slot.server_requests.erase(jsonrpc::id_key(backend_id));
    answer_error(rpc_code::kInternalError,
                 fmt::format("mcpgw: no request of this client is waiting to carry {}", m));
  }
}

void Relay::on_backend_state(BackendSlot& slot, upstream::BackendState state) {
  // One user's missing value or account says nothing about the server: it is not recorded
  // (nor is their consent link, which is theirs alone).
  if (!slot.backend || !slot.backend->waits_for_user()) {
    pool_.record(slot.cfg->name, state,
                 slot.backend ? slot.backend->last_error() : std::string());
  }
  if (state != BackendState::ready) {
    return;
  }
  if (!slot.ever_ready) {
    slot.ever_ready = true;
    // Sessions that got a list without this server (it was not up yet) hear that it changed.
    for (ListKind kind : {ListKind::tools, ListKind::prompts, ListKind::resources}) {
      if (slot.cache(kind).served_partial) {
        slot.cache(kind).served_partial = false;
        notify_sessions(slot, info(kind).changed);
      }
    }
    return;
  }
  // Back after a restart: what it serves may have changed, and it forgot subscriptions.
  slot.forget_lists();
  slot.server_requests.clear();
  for (const auto& [uri, count] : slot.subscriptions) {
    json::object params;
    params["uri"] = uri;
    slot.backend->send_request(jsonrpc::make_request(0, mcp::method::kResourcesSubscribe,
                                                     std::move(params)));
  }
  notify_sessions(slot, mcp::method::kToolsListChanged);
  if (slot.backend->info().capabilities.contains("prompts")) {
    notify_sessions(slot, mcp::method::kPromptsListChanged);
  }
  if (slot.backend->info().capabilities.contains("resources")) {
    notify_sessions(slot, mcp::method::kResourcesListChanged);
  }
}

}  // namespace mcpgw::relay
