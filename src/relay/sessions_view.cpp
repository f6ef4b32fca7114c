// What the dashboard shows of the live sessions and of each shared server's tools.
#include "relay/relay.hpp"

#include "mcp/protocol.hpp"

#include <algorithm>

namespace mcpgw::relay {

namespace {

const char* transport_name(const Session& s) {
  if (s.protocol_version() == mcp::kModernVersion) {
    return "stateless";
  }
  return s.transport == ClientTransport::legacy_sse ? "legacy_sse" : "streamable_http";
}

json::object describe(const Session& s, Clock::time_point now) {
  json::object o;
  o["id"] = s.id;
  o["principal"] = s.principal ? s.principal->name : std::string("-");
  o["transport"] = transport_name(s);
  o["protocolVersion"] = s.protocol_version();
  const auto& info = s.client_info();
  const auto* name = info.if_contains("name");
  const auto* version = info.if_contains("version");
  std::string client = name != nullptr && name->is_string() ? std::string(name->get_string()) : "";
  if (version != nullptr && version->is_string()) {
    client.append(1, ' ').append(version->get_string().data(), version->get_string().size());
  }
  o["client"] = client;
  json::array servers;
  for (const auto& v : s.view) {
    servers.emplace_back(v);
  }
  o["servers"] = std::move(servers);
  o["endpoint"] = s.endpoint;
  o["scope"] = s.scope_name;
  if (s.scope) {
    o["taint"] = s.scope->describe();
  }
  o["initialized"] = s.initialized();
  o["inFlight"] = s.inflight.size();
  o["openedMs"] = s.opened_ms;
  o["idleMs"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(now - s.last_active).count();
  return o;
}

}  // namespace

json::array Relay::sessions_detail() const {
  std::vector<const Session*> live;
  live.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) {
    if (!s->closed()) {
      live.push_back(s.get());
    }
  }
  // Oldest first: a table that does not reshuffle as it refreshes.
  std::sort(live.begin(), live.end(), [](const Session* a, const Session* b) {
    return a->opened_ms != b->opened_ms ? a->opened_ms < b->opened_ms : a->id < b->id;
  });
  json::array out;
  const auto now = Clock::now();
  for (const Session* s : live) {
    out.push_back(describe(*s, now));
  }
  return out;
}

std::vector<std::string> Relay::tool_names(const std::string& server) const {
  std::vector<std::string> names;
  const auto it = shared_.find(server);
  if (it == shared_.end() || !it->second->lists[0].items) {
    return names;
  }
  for (const auto& t : *it->second->lists[0].items) {
    const auto* o = t.if_object();
    const auto* name = o != nullptr ? o->if_contains("name") : nullptr;
    if (name != nullptr && name->is_string()) {
      names.emplace_back(name->get_string());
    }
  }
  return names;
}

}  // namespace mcpgw::relay
