// What /healthz says about the gateway and each server.
#include "relay/relay.hpp"

#include "common/text.hpp"
#include "relay/util.hpp"

#include "mcp/protocol.hpp"

#include <fmt/format.h>

namespace mcpgw::relay {

using upstream::BackendState;

namespace {

/// The state a person reads on /healthz: connecting, ready, degraded, down, stopped, or
/// waiting (for its user: a value in their vault, their account connected).
const char* health_state(const upstream::Backend& b) {
  switch (b.state()) {
    case BackendState::starting: return "connecting";
    case BackendState::ready: return b.degraded().empty() ? "ready" : "degraded";
    case BackendState::restarting: return b.waits_for_user() ? "waiting" : "down";
    case BackendState::stopped: return "stopped";
  }
  return "?";
}

/// One backend's state, reason, pid, restarts and in-flight count.
void describe(json::object& s, const upstream::Backend& b) {
  s["state"] = health_state(b);
  if (b.state() != BackendState::ready && !b.last_error().empty()) {
    s["reason"] = without_param(b.last_error(), "ticket");  // a user's consent link is theirs
  } else if (!b.degraded().empty()) {
    s["reason"] = b.degraded();
  }
  if (b.pid() != 0) {
    s["pid"] = b.pid();
  }
  s["restarts"] = b.restarts();
  s["inFlight"] = b.in_flight();
}

}  // namespace

Relay::SessionCounts Relay::session_counts() const {
  SessionCounts n;
  for (const auto& [id, s] : sessions_) {
    if (s->protocol_version() == mcp::kModernVersion) {
      ++n.stateless;
    } else if (s->transport == ClientTransport::legacy_sse) {
      ++n.legacy_sse;
    } else {
      ++n.streamable_http;
    }
  }
  return n;
}

json::object Relay::health() const {
  json::object out;
  out["status"] = "ok";
  out["version"] = MCPGW_VERSION;
  out["sessions"] = sessions_.size();
  const auto now = Clock::now();
  json::object servers;
  std::size_t down = 0;
  for (const auto& server : cfg_.servers) {
    json::object s;
    s["transport"] = config::to_string(server.transport);
    s["isolation"] = config::to_string(server.options.isolation);
    if (server.transport != config::Transport::stdio) {
      s["url"] = upstream::display_url(server.url);
    }
    if (server.options.isolation == config::Isolation::session) {
      describe_instances(server.name, s);
    } else if (auto it = shared_.find(server.name); it != shared_.end() && it->second->backend) {
      describe(s, *it->second->backend);
      if (const auto& tools = it->second->lists[0].items) {
        s["tools"] = tools->size();
      }
    }
    if (const auto* st = pool_.status(server.name)) {
      s["sinceMs"] =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - st->since).count();
    }
    if (s["state"] == "down") {
      ++down;
    }
    servers[server.name] = std::move(s);
  }
  if (down > 0) {
    out["status"] = down == cfg_.servers.size() ? "down" : "degraded";
  }
  out["servers"] = std::move(servers);
  return out;
}

void Relay::describe_instances(const std::string& server, json::object& s) const {
  // One backend per session: count them by state; the worst decides.
  std::map<std::string, std::size_t> states;
  const upstream::Backend* worst = nullptr;
  std::size_t instances = 0;
  auto rank = [](const upstream::Backend& b) {
    const std::string_view st = health_state(b);
    return st == "down"         ? 4
           : st == "degraded"   ? 3
           : st == "connecting" ? 2
           : st == "waiting"    ? 1
                                : 0;
  };
  for (const auto& [id, session] : sessions_) {
    if (auto it = session->isolated.find(server); it != session->isolated.end() &&
                                                  it->second->backend) {
      const auto& b = *it->second->backend;
      ++instances;
      ++states[health_state(b)];
      if (worst == nullptr || rank(b) > rank(*worst)) {
        worst = &b;
      }
    }
  }
  s["instances"] = instances;
  if (worst != nullptr) {
    describe(s, *worst);
    s.erase("pid");
    json::object by_state;
    for (const auto& [st, n] : states) {
      by_state[st] = n;
    }
    s["instanceStates"] = std::move(by_state);
  } else if (const auto* st = pool_.status(server)) {
    // No session has one now: what the last one reported.
    s["state"] = st->state == BackendState::restarting ? "down"
                 : st->state == BackendState::ready    ? "ready"
                                                       : "idle";
    if (!st->reason.empty()) {
      s["reason"] = st->reason;
    }
  } else {
    s["state"] = "idle";  // per-session: connected when a session first uses it
  }
  if (const auto* p = probes_ ? probes_->result(server) : nullptr; p != nullptr && instances == 0) {
    // The background probe is the newest word on a server no session holds.
    s["state"] = p->ok ? "ready" : "down";
    if (p->ok) {
      s.erase("reason");
    } else {
      s["reason"] = p->reason;
    }
    s["probedMsAgo"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - p->at).count();
  }
}

bool Relay::server_ready(const config::ServerConfig& server, json::object& s) const {
  json::object h;
  if (server.options.isolation == config::Isolation::session) {
    describe_instances(server.name, h);
  } else if (auto it = shared_.find(server.name); it != shared_.end() && it->second->backend) {
    describe(h, *it->second->backend);
  }
  std::string state = "stopped";
  if (const auto* st = h.if_contains("state"); st != nullptr && st->is_string()) {
    state = std::string(st->get_string());
  }
  bool ready = state == "ready" || state == "degraded";
  if (state == "idle" && !(cfg_.gateway.health.probe && upstream::Probes::probed(server))) {
    ready = true;  // not probed: nothing says it cannot serve when a session starts it
    s["note"] = "not probed: started when a session first uses it";
  } else if (state == "idle") {
    s["note"] = "not probed yet";
  }
  s["ready"] = ready;
  s["state"] = state;
  if (const auto* r = h.if_contains("reason")) {
    s["reason"] = *r;
  }
  return ready;
}

json::object Relay::readiness(bool& ready) const {
  ready = false;
  json::object servers;
  for (const auto& server : cfg_.servers) {
    json::object s;
    ready = server_ready(server, s) || ready;
    servers[server.name] = std::move(s);
  }
  json::object out;
  out["status"] = ready ? "ready" : "not ready";
  if (cfg_.servers.empty()) {
    out["reason"] = "no server is configured";
  } else if (!ready) {
    out["reason"] = "no server can serve yet";
  }
  out["servers"] = std::move(servers);
  if (session_keys_ != nullptr || shared_scopes_ != nullptr) {
    // Shown, not counted against readiness: what needs neither is still served.
    json::object cluster;
    cluster["replica"] = replica_;
    if (shared_scopes_ != nullptr) {
      cluster["sharedState"] = shared_scopes_->status();
    }
    out["cluster"] = std::move(cluster);
  }
  if (audit_ != nullptr) {
    // Shown, not counted: calls go on while the rows fit (audit_stage.cpp refuses beyond).
    const std::string problem = audit_->store_problem();
    out["audit"] = {{"queued", audit_->queued()},
                    {"store", problem.empty() ? "up" : "down"},
                    {"saturated", audit_->saturated()}};
    if (!problem.empty()) {
      out["audit"].as_object()["error"] = problem;
    }
  }
  return out;
}

}  // namespace mcpgw::relay
