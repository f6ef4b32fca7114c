// subscriptions/listen (2026-07-28): a stateless caller's stream of list changes and resource
// updates, in place of the older revisions' standalone stream and resources/subscribe. The
// servers behind may be of any revision: their list_changed and resources/updated reach each
// listen that asked, tagged with its subscription id.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace mcpgw::relay {

namespace {

bool asked(const json::object& filter, std::string_view key) {
  const auto* v = filter.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

void tag(json::object& msg, const json::value& subscription) {
  mcp::meta_of(msg)[mcp::meta::kSubscriptionId] = subscription;
}

}  // namespace

asio::awaitable<std::optional<json::object>> Relay::listen(SessionPtr s, json::object request,
                                                           std::shared_ptr<EventStream> out,
                                                           json::value client_id) {
  const json::value* filter = params_of(request).if_contains("notifications");
  if (filter == nullptr || !filter->is_object()) {
    co_return jsonrpc::make_error(client_id, rpc_code::kInvalidParams,
                                  "Invalid params: subscriptions/listen needs a notifications "
                                  "filter (an object)");
  }
  const json::object& f = filter->get_object();
  auto l = std::make_shared<Listener>();
  l->id = client_id;
  l->stream = out;
  l->tools = asked(f, "toolsListChanged");
  l->prompts = asked(f, "promptsListChanged");
  l->resources = asked(f, "resourcesListChanged");
  if (const auto* uris = f.if_contains("resourceSubscriptions")) {
    co_await listen_resources(s, *l, *uris);
  }
  // What is honored: the gateway relays every list change its servers send and makes its
  // own (a server restarted, a tool released), so each kind asked for; the resources whose
  // subscription its server took.
  json::object honored;
  for (auto [key, on] : {std::pair{"toolsListChanged", l->tools},
                         std::pair{"promptsListChanged", l->prompts},
                         std::pair{"resourcesListChanged", l->resources}}) {
    if (on) {
      honored[key] = true;
    }
  }
  if (!l->uris.empty()) {
    json::array uris;
    for (const auto& u : l->uris) {
      uris.emplace_back(u);
    }
    honored["resourceSubscriptions"] = std::move(uris);
  }
  json::object params;
  params["notifications"] = std::move(honored);
  json::object ack = jsonrpc::make_notification(mcp::method::kSubscriptionsAcknowledged,
                                                std::move(params));
  tag(ack, l->id);
  out->push(jsonrpc::serialize(ack));
  s->listeners.push_back(std::move(l));
  co_return std::nullopt;
}

asio::awaitable<void> Relay::listen_resources(const SessionPtr& s, Listener& l,
                                              const json::value& uris) {
  if (!uris.is_array()) {
    co_return;
  }
  for (const auto& u : uris.get_array()) {
    if (!u.is_string() || l.uris.count(std::string(u.get_string())) != 0) {
      continue;
    }
    std::string uri(u.get_string());
    bool ok = s->subscriptions.count(uri) != 0;  // another listen of this caller has it
    if (!ok) {
      json::object params;
      params["uri"] = uri;
      json::value id(fmt::format("mcpgw-listen-{}", next_listen_call_++));
      auto reply = co_await call(s, jsonrpc::make_request(std::move(id),
                                                          mcp::method::kResourcesSubscribe,
                                                          std::move(params)),
                                 std::string());
      ok = reply.contains("result");
      if (!ok) {
        spdlog::info("session {}: listen: {} not subscribed: {}", s->id, uri,
                     json::serialize(reply["error"]));
      }
    }
    if (ok) {
      l.uris.insert(std::move(uri));
    }
  }
}

asio::awaitable<void> Relay::unlisten(SessionPtr s, std::shared_ptr<EventStream> out) {
  std::set<std::string> uris;
  std::erase_if(s->listeners, [&](const std::shared_ptr<Listener>& l) {
    if (l->stream != out) {
      return false;
    }
    uris.merge(l->uris);
    return true;
  });
  for (const auto& l : s->listeners) {
    for (const auto& u : l->uris) {
      uris.erase(u);  // still wanted
    }
  }
  for (const auto& uri : uris) {
    if (s->closed()) {
      break;
    }
    json::object params;
    params["uri"] = uri;
    json::value id(fmt::format("mcpgw-listen-{}", next_listen_call_++));
    co_await call(s, jsonrpc::make_request(std::move(id), mcp::method::kResourcesUnsubscribe,
                                           std::move(params)),
                  std::string());
  }
}

void Relay::end_listens(Session& s) {
  for (const auto& l : s.listeners) {
    json::object meta;
    meta[mcp::meta::kSubscriptionId] = l->id;
    json::object result;
    result["_meta"] = std::move(meta);
    result["resultType"] = "complete";
    l->stream->push_final(jsonrpc::serialize(jsonrpc::make_result(l->id, std::move(result))));
  }
  s.listeners.clear();
}

void Relay::publish(Session& s, const json::object& msg) {
  namespace mm = mcp::method;
  const auto m = jsonrpc::method(msg);
  std::string_view uri;
  if (m == mm::kResourcesUpdated) {
    if (const auto* p = msg.if_contains("params"); p != nullptr && p->is_object()) {
      uri = string_at(p->get_object(), "uri");
    }
  }
  for (const auto& l : s.listeners) {
    const bool wants = m == mm::kToolsListChanged      ? l->tools
                       : m == mm::kPromptsListChanged  ? l->prompts
                       : m == mm::kResourcesListChanged ? l->resources
                       : m == mm::kResourcesUpdated     ? l->uris.count(std::string(uri)) != 0
                                                        : false;
    if (!wants) {
      continue;
    }
    json::object copy = msg;
    tag(copy, l->id);
    l->stream->push(jsonrpc::serialize(copy));
  }
}

}  // namespace mcpgw::relay
