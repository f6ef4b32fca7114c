// /healthz: the relay's view, the limits and the load. /readyz: whether a load balancer
// should send requests here.
#include "downstream/server_impl.hpp"

namespace mcpgw::downstream {

json::object HttpServer::Impl::health() const {
  json::object h = relay_.health();
  const auto& l = gw_.limits;
  const auto& t = gw_.timeouts;
  json::object limits{
      {"maxConnections", l.max_connections},
      {"maxConnectionsPerClient", l.max_connections_per_client},
      {"maxConnectionsPerPrincipal", l.max_connections_per_principal},
      {"maxSessions", l.max_sessions},
      {"maxSessionsPerClient", l.max_sessions_per_client},
      {"maxProcesses", l.max_processes},
      {"maxBackendQueueBytes", l.max_backend_queue_bytes},
      {"maxBodyBytes", l.max_body_bytes},
      {"maxHeaderBytes", l.max_header_bytes},
      {"maxMessageBytes", l.max_message_bytes},
      {"maxJsonDepth", l.max_json_depth},
      {"replayEvents", l.replay_events},
      {"memoryBudgetBytes", memory_budget_},
      {"authFailuresPerMin", l.auth_failures_per_min},
      {"connectionIdleMs", t.connection_idle.count()},
      {"headerMs", t.header.count()},
      {"bodyMs", t.body.count()},
      {"writeMs", t.write.count()},
  };
  h["limits"] = std::move(limits);
  h["load"] = json::object{
      {"connections", admission_.open()},
      {"refusedConnections", admission_.refused()},
      {"processes", upstream::ProcessBudget::instance().live()},
      {"residentBytes", memory::resident_bytes()},
      {"heapBytes", memory::allocated_bytes()},
      {"shedding", shedding_},
  };
  if (shedding_) {
    h["status"] = "overloaded";
  }
  return h;
}

bool HttpServer::Impl::is_health_path(std::string_view path) {
  return path == "/healthz" || path == "/health" || path == "/livez" || path == "/readyz" ||
         path == "/metrics";
}

void HttpServer::Impl::key_store_readiness(json::object& body, bool& ready) {
  access::KeyStore* keys = auth_.keys();
  if (keys == nullptr) {
    return;
  }
  const access::KeyStoreState st = keys->state();
  if (!st.shared) {
    return;
  }
  body["keyStore"] = {{"usable", st.usable}, {"detail", st.detail}};
  if (!st.usable && ready) {
    // No key can be checked here: a balancer should send requests to a replica that can.
    ready = false;
    body["status"] = "not ready";
    body["reason"] = "the key store cannot be read: " + st.detail;
  }
}

void HttpServer::Impl::pin_store_readiness(json::object& body, bool& ready) {
  gate::Gate* g = relay_.gate();
  const auto* pins = g != nullptr ? g->pins().get() : nullptr;
  if (pins == nullptr || !pins->shared()) {
    return;
  }
  std::string detail;
  const bool usable = pins->usable(detail);
  body["pinStore"] = {{"usable", usable}, {"loaded", pins->loaded()}, {"detail", detail}};
  if (!pins->loaded() && ready) {
    // Every tool is held until the pins are read: another replica serves them.
    ready = false;
    body["status"] = "not ready";
    body["reason"] = detail;
  }
}

Response HttpServer::Impl::readiness(const Request& req) {
  bool ready = false;
  json::object body = relay_.readiness(ready);
  if (stopping_ || shedding_) {
    ready = false;
    body["status"] = "not ready";
    body["reason"] = stopping_ ? "draining: the gateway is shutting down"
                               : "overloaded: over limits.memoryBudgetBytes";
  }
  key_store_readiness(body, ready);
  pin_store_readiness(body, ready);
  body["draining"] = stopping_;
  return json_response(req, ready ? 200 : 503, json::serialize(body));
}

}  // namespace mcpgw::downstream
