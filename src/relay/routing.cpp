// Routing: which server an exposed name or URI belongs to, and the URIs in results as the
// client sees them.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "mcp/protocol.hpp"

namespace mcpgw::relay {

std::optional<Relay::Route> Relay::route_name(Session& s, std::string_view exposed) {
  return route(s, s.single_server ? mcp::Target{s.view.front(), std::string(exposed)}
                                  : naming_.resolve(exposed));
}

bool Relay::tool_allowed(const Session& s, std::string_view server, std::string_view name) {
  if (!s.principal) {
    return true;
  }
  // Globs match the name as the aggregate endpoint exposes it, on every endpoint alike.
  return s.principal->allows_tool(server, naming_.expose(server, name));
}

std::optional<Relay::Route> Relay::route_uri(Session& s, std::string_view uri) {
  return route(s, s.single_server ? mcp::Target{s.view.front(), std::string(uri)}
                                  : mcp::Naming::resolve_uri(uri));
}

std::optional<Relay::Route> Relay::route(Session& s, std::optional<mcp::Target> target) {
  if (!target || !s.in_view(target->server)) {
    return std::nullopt;
  }
  BackendSlot* slot = slot_for(s, target->server);
  if (slot == nullptr) {
    return std::nullopt;
  }
  return Route{slot->shared_from_this(), std::move(target->name)};
}

void Relay::expose_uris(json::value& result, std::string_view method,
                        std::string_view server) const {
  if (!result.is_object()) {
    return;
  }
  auto fix_content = [&](json::value& item) {
    if (!item.is_object()) {
      return;
    }
    auto& o = item.get_object();
    const std::string_view type = string_at(o, "type");
    if (type == "resource_link") {
      if (auto* u = o.if_contains("uri"); u && u->is_string()) {
        *u = mcp::Naming::expose_uri(server, u->get_string());
      }
    } else if (type == "resource") {
      if (auto* r = o.if_contains("resource"); r && r->is_object()) {
        if (auto* u = r->get_object().if_contains("uri"); u && u->is_string()) {
          *u = mcp::Naming::expose_uri(server, u->get_string());
        }
      }
    }
  };
  auto& r = result.get_object();
  if (method == mcp::method::kToolsCall) {
    if (auto* content = r.if_contains("content"); content && content->is_array()) {
      for (auto& item : content->get_array()) {
        fix_content(item);
      }
    }
  } else if (method == mcp::method::kPromptsGet) {
    if (auto* messages = r.if_contains("messages"); messages && messages->is_array()) {
      for (auto& msg : messages->get_array()) {
        if (msg.is_object()) {
          if (auto* c = msg.get_object().if_contains("content")) {
            fix_content(*c);
          }
        }
      }
    }
  } else if (method == mcp::method::kResourcesRead) {
    if (auto* contents = r.if_contains("contents"); contents && contents->is_array()) {
      for (auto& c : contents->get_array()) {
        if (c.is_object()) {
          if (auto* u = c.get_object().if_contains("uri"); u && u->is_string()) {
            *u = mcp::Naming::expose_uri(server, u->get_string());
          }
        }
      }
    }
  }
}

}  // namespace mcpgw::relay
