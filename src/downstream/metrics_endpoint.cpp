// GET /metrics: Prometheus text. The counters and histograms the stages keep, then gauges read
// at scrape time from what the gateway holds (sessions, streams, servers, queues).
#include "downstream/server_impl.hpp"

#include "relay/session.hpp"

#include "common/log.hpp"

namespace mcpgw::downstream {

namespace {

constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

void gauge(metrics::Text& out, std::string_view name, std::string_view help, double value) {
  out.family(name, help, "gauge");
  out.sample(name, {}, value);
}

void counter(metrics::Text& out, std::string_view name, std::string_view help, double value) {
  out.family(name, help, "counter");
  out.sample(name, {}, value);
}

/// Per server: whether it can serve, its in-flight requests, from /healthz's view of it.
void server_gauges(metrics::Text& out, const json::object& servers) {
  out.family("mcpgw_server_up", "1 when the server is ready (or degraded), else 0", "gauge");
  for (const auto& [name, s] : servers) {
    const auto* state = s.get_object().if_contains("state");
    const bool up = state != nullptr && state->is_string() &&
                    (state->get_string() == "ready" || state->get_string() == "degraded");
    out.sample("mcpgw_server_up", {"server", name}, up ? 1 : 0);
  }
  out.family("mcpgw_server_in_flight", "Requests sent to the server and not yet answered",
             "gauge");
  for (const auto& [name, s] : servers) {
    const auto* n = s.get_object().if_contains("inFlight");
    out.sample("mcpgw_server_in_flight", {"server", name},
               n != nullptr && n->is_number() ? n->to_number<double>() : 0);
  }
}

}  // namespace

Response HttpServer::Impl::metrics(const Request& req) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    auto res = error_json(req, 405, "Method not allowed: GET /metrics");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  metrics::Text text;
  metrics::registry().render(text);
  write_gauges(text);
  Response res{http::status::ok, req.version()};
  common_headers(req, res);
  res.set(http::field::content_type, kContentType);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(text.str());
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

void HttpServer::Impl::write_gauges(metrics::Text& out) const {
  out.family("mcpgw_build_info", "The gateway's version (the value is always 1)", "gauge");
  out.sample("mcpgw_build_info", {"version", MCPGW_VERSION}, 1);
  gauge(out, "mcpgw_start_time_seconds", "When the gateway started, in Unix seconds",
        started_unix_);
  gauge(out, "mcpgw_resident_memory_bytes", "Resident set size",
        static_cast<double>(memory::resident_bytes()));
  gauge(out, "mcpgw_draining", "1 while the gateway drains to stop", stopping_ ? 1 : 0);
  gauge(out, "mcpgw_shedding", "1 while over limits.memoryBudgetBytes (requests get 503)",
        shedding_ ? 1 : 0);
  gauge(out, "mcpgw_connections", "Open client connections",
        static_cast<double>(admission_.open()));
  counter(out, "mcpgw_connections_refused_total",
          "Connections refused by limits.maxConnections or maxConnectionsPerClient",
          static_cast<double>(admission_.refused()));
  const auto sessions = relay_.session_counts();
  out.family("mcpgw_sessions", "Open sessions by client transport (stateless: the hidden "
             "sessions of 2026-07-28 callers)", "gauge");
  out.sample("mcpgw_sessions", {"transport", "streamable_http"},
             static_cast<double>(sessions.streamable_http));
  out.sample("mcpgw_sessions", {"transport", "legacy_sse"},
             static_cast<double>(sessions.legacy_sse));
  out.sample("mcpgw_sessions", {"transport", "stateless"}, static_cast<double>(sessions.stateless));
  out.family("mcpgw_sse_streams", "Open SSE responses by client transport", "gauge");
  out.sample("mcpgw_sse_streams", {"transport", "streamable_http"},
             static_cast<double>(sse_streams_[0]));
  out.sample("mcpgw_sse_streams", {"transport", "legacy_sse"},
             static_cast<double>(sse_streams_[1]));
  gauge(out, "mcpgw_in_flight_requests", "Requests forwarded to servers and not yet answered",
        static_cast<double>(relay_.in_flight()));
  gauge(out, "mcpgw_processes", "Server processes running (limits.maxProcesses)",
        static_cast<double>(upstream::ProcessBudget::instance().live()));
  const json::object health = relay_.health();
  if (const auto* servers = health.if_contains("servers"); servers && servers->is_object()) {
    server_gauges(out, servers->get_object());
  }
  if (gate::Gate* g = relay_.gate()) {
    gauge(out, "mcpgw_approvals_pending", "Calls the security gate holds for an approval",
          static_cast<double>(g->approvals().pending()));
  }
  if (const access::AuditLog* a = relay_.audit_log()) {
    gauge(out, "mcpgw_audit_queue_depth", "Audit rows waiting for the writer",
          static_cast<double>(a->queued()));
    counter(out, "mcpgw_audit_rows_written_total", "Audit rows written",
            static_cast<double>(a->written()));
    counter(out, "mcpgw_audit_rows_dropped_total",
            "Audit rows dropped with a full queue (gateway.audit.whenFull \"drop\")",
            static_cast<double>(a->dropped()));
  }
  counter(out, "mcpgw_log_lines_dropped_total",
          "Access lines dropped because the log writer fell behind",
          static_cast<double>(log::access_dropped()));
  out.family("mcpgw_http_responses_total", "HTTP responses by status code", "counter");
  for (std::size_t code = 100; code < responses_.size(); ++code) {
    if (responses_[code] != 0) {
      out.sample("mcpgw_http_responses_total", {"code", std::to_string(code)},
                 static_cast<double>(responses_[code]));
    }
  }
}

Response HttpServer::Impl::metrics_only(const Request& req, const std::string& path) {
  if (!host_in(metrics_hosts_, req[http::field::host]) || req.count(http::field::host) > 1) {
    return error_json(req, 403, "Forbidden: Host is not allowed");
  }
  if (!req[http::field::origin].empty()) {
    return error_json(req, 403, "Forbidden: the metrics listener takes no browser requests");
  }
  if (path != "/metrics") {
    return error_json(req, 404, "Not found: this listener serves /metrics only");
  }
  return metrics(req);
}

}  // namespace mcpgw::downstream
