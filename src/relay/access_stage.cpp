// The access stage: where a client request goes, and whether its principal may use it there.
// With access control, a tool the caller may not use and a tool that does not exist get the
// same answer from the gateway, so neither can be told apart by probing.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "common/error.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mcpgw::relay {

void Relay::routed(Exchange& ex, Route route) {
  ex.slot = route.slot.get();
  ex.server = route.slot->cfg->name;
  ex.slot_ref = std::move(route.slot);
  ex.name = std::move(route.name);
}

asio::awaitable<bool> Relay::admit(Exchange& ex, Routing routing) {
  bool admitted = true;
  switch (routing) {
    case Routing::tool: admitted = co_await admit_tool(ex); break;
    case Routing::prompt:
    case Routing::resource: admitted = admit_named(ex, routing); break;
    case Routing::completion: admitted = admit_completion(ex); break;
    case Routing::server: admitted = admit_server(ex); break;
    case Routing::local: break;
  }
  if (admitted && !ex.intake.continues_at.empty() && ex.server != ex.intake.continues_at) {
    // A passed round's state goes back only to the server that made it (the same name may
    // reach another server on another endpoint).
    ex.fail(rpc_code::kInvalidParams,
            "Invalid params: this requestState belongs to a request to another server");
    co_return false;
  }
  co_return admitted;
}

namespace {

/// Whether a stateless request's Mcp-Param-* headers need the tool's schema: it sent some, or
/// a tool of its server (or a list not fetched yet) has x-mcp-header parameters.
bool headers_to_check(const Exchange& ex, const BackendSlot& slot) {
  const auto& cached = slot.lists[static_cast<int>(ListKind::tools)];
  return !ex.intake.param_headers.empty() || !cached.items || cached.header_params;
}

}  // namespace

asio::awaitable<bool> Relay::admit_tool(Exchange& ex) {
  Session& s = *ex.session;
  json::object& params = params_of(ex.request);
  ex.target = std::string(string_at(params, "name"));
  auto route = route_name(s, ex.target);
  bool exists = route.has_value();
  bool denied = false;
  if (route && s.principal) {
    ex.server = route->slot->cfg->name;
    denied = !tool_allowed(s, ex.server, route->name);
    exists = !denied;
  }
  // The tool as its server lists it: whether it exists for a caller with grants, and the
  // x-mcp-header parameters a stateless request's headers must agree with.
  std::shared_ptr<const json::array> tools;
  const json::object* tool = nullptr;
  const bool check_headers = exists && ex.intake.mirrored && headers_to_check(ex, *route->slot);
  if (exists && (s.principal || check_headers)) {
    tools = route->slot->cache(ListKind::tools).items;  // cached: no suspension
    if (!tools) {
      tools = co_await fetch_list(*route->slot, ListKind::tools, ex.session);
    }
    tool = upstream::find_tool(tools, route->slot->cache(ListKind::tools), route->name);
    // No list (the server is down): let the call say so, as it would without access control.
    exists = !tools || tool != nullptr || !s.principal;
  }
  if (ex.target.empty() || !exists) {
    ex.fail(rpc_code::kInvalidParams, fmt::format("Unknown tool: {}", ex.target));
    if (denied) {
      ex.outcome = Outcome::denied;
      ex.denied = fmt::format("not permitted for key '{}'", s.principal->name);
    }
    co_return false;
  }
  if (tool != nullptr && check_headers) {
    if (auto why = mcp::check_param_headers(*tool, params, ex.intake.param_headers);
        !why.empty()) {
      ex.fail(rpc_code::kHeaderMismatch,
              fmt::format("Bad Request: the request headers and body disagree: {}", why));
      co_return false;
    }
  }
  params["name"] = route->name;
  routed(ex, std::move(*route));
  co_return true;
}

bool Relay::admit_named(Exchange& ex, Routing routing) {
  Session& s = *ex.session;
  json::object& params = params_of(ex.request);
  const bool prompt = routing == Routing::prompt;
  const char* key = prompt ? "name" : "uri";
  ex.target = std::string(string_at(params, key));
  auto route = prompt ? route_name(s, ex.target) : route_uri(s, ex.target);
  if (ex.target.empty() || !route) {
    if (prompt) {
      ex.fail(rpc_code::kInvalidParams, fmt::format("Unknown prompt: {}", ex.target));
    } else {
      json::object data;
      data["uri"] = ex.target;
      // -32002 until 2026-07-28, which standardizes on -32602 (SEP-2164).
      const bool modern = s.protocol_version() == mcp::kModernVersion;
      ex.fail(modern ? rpc_code::kInvalidParams : -32002,
              fmt::format("Resource not found: {}", ex.target), std::move(data));
    }
    return false;
  }
  params[key] = route->name;
  routed(ex, std::move(*route));
  return true;
}

bool Relay::admit_completion(Exchange& ex) {
  Session& s = *ex.session;
  json::value* ref = params_of(ex.request).if_contains("ref");
  if (ref == nullptr || !ref->is_object()) {
    ex.fail(rpc_code::kInvalidParams, "completion/complete needs ref");
    return false;
  }
  auto& r = ref->get_object();
  const std::string_view type = string_at(r, "type");
  const bool prompt = type == "ref/prompt";
  const char* key = prompt ? "name" : type == "ref/resource" ? "uri" : nullptr;
  std::optional<Route> route;
  if (key != nullptr) {
    ex.target = std::string(string_at(r, key));
    route = prompt ? route_name(s, ex.target) : route_uri(s, ex.target);
  }
  if (!route) {
    ex.fail(rpc_code::kInvalidParams, "completion/complete: unknown prompt or resource");
    return false;
  }
  r[key] = route->name;
  routed(ex, std::move(*route));
  return true;
}

bool Relay::admit_server(Exchange& ex) {
  Session& s = *ex.session;
  const std::string& server = s.view.front();
  ex.target = server;
  ex.server = server;
  BackendSlot* slot = slot_for(s, server);
  const bool permitted =
      !s.principal || s.principal->allows_every_tool(server, server + cfg_.gateway.separator);
  if (slot == nullptr || !permitted) {
    // A method that is not a tool call could reach what the key's tool grants keep it from
    // (another call's task results, for one): only a key that may use every tool of the
    // server gets it through, and to others it does not exist.
    ex.fail(rpc_code::kMethodNotFound, fmt::format("Method not found: {}", ex.method));
    if (!permitted) {
      ex.outcome = Outcome::denied;
      ex.denied = fmt::format("not permitted for key '{}' (it may not use every tool of '{}')",
                              s.principal->name, server);
    }
    return false;
  }
  routed(ex, Route{slot->shared_from_this(), ex.method});
  return true;
}

}  // namespace mcpgw::relay
