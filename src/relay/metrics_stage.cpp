// The metrics stage: every exchange, once it has its reply, is counted by method, server and
// outcome, its latency observed, a tool call counted by tool, and its access line logged.
// Label values come from the config and the method table only, so a client cannot make new
// series with names it sends.
#include "relay/relay.hpp"

#include "common/log.hpp"
#include "common/metrics.hpp"
#include "mcp/protocol.hpp"

#include <array>

namespace mcpgw::relay {

namespace {

struct Meters {
  metrics::CounterFamily& requests = metrics::registry().counter(
      "mcpgw_requests_total",
      "MCP requests the relay answered, by method, server (empty: answered by the gateway) and "
      "outcome",
      {"method", "server", "outcome"});
  metrics::HistogramFamily& duration = metrics::registry().histogram(
      "mcpgw_request_duration_seconds",
      "Time from a request's intake to its reply, by method and server", {"method", "server"},
      metrics::latency_buckets());
  metrics::CounterFamily& tool_calls = metrics::registry().counter(
      "mcpgw_tool_calls_total",
      "tools/call requests by server, tool (empty when the server did not run it) and outcome",
      {"server", "tool", "outcome"});
};

Meters& meters() {
  static Meters m;
  return m;
}

/// Methods a per-server endpoint forwards although the table does not list them.
constexpr std::array<std::string_view, 4> kKnownPassthrough = {"tasks/get", "tasks/list",
                                                               "tasks/result", "tasks/cancel"};

std::string_view outcome_label(Outcome o) noexcept {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::tool_error: return "tool_error";
    case Outcome::error: return "error";
    case Outcome::denied: return "denied";
    case Outcome::timeout: return "timeout";
    case Outcome::input_required: return "input_required";
  }
  return "error";
}

}  // namespace

std::string_view Relay::method_label(std::string_view method) {
  if (find_method(method) != nullptr) {
    return method;
  }
  for (auto known : kKnownPassthrough) {
    if (method == known) {
      return known;
    }
  }
  return "other";
}

void Relay::observe(const Exchange& ex, std::chrono::microseconds elapsed) {
  Meters& m = meters();
  const std::string_view method = method_label(ex.method);
  const std::string_view outcome = outcome_label(ex.outcome);
  const double seconds = std::chrono::duration<double>(elapsed).count();
  m.requests.at({method, ex.server, outcome}).inc();
  m.duration.at({method, ex.server}).observe(seconds);
  if (method == mcp::method::kToolsCall && !ex.server.empty()) {
    // The tool label only for a tool its server ran: an unknown name is not a series.
    const bool ran = ex.outcome == Outcome::ok || ex.outcome == Outcome::tool_error ||
                     ex.outcome == Outcome::timeout || ex.outcome == Outcome::input_required;
    m.tool_calls.at({ex.server, ran ? std::string_view(ex.name) : std::string_view(), outcome})
        .inc();
  }
}

void Relay::log_access(const Exchange& ex, std::size_t bytes_out,
                       std::chrono::microseconds elapsed) {
  const Session& s = *ex.session;
  log::Access a;
  a.request_id = ex.intake.request_id;
  a.principal = s.principal ? std::string_view(s.principal->name) : std::string_view("-");
  a.session = s.id;
  a.method = ex.method;
  a.target = ex.target;
  a.server = ex.server;
  a.outcome = outcome_label(ex.outcome);
  a.latency_us = static_cast<std::uint64_t>(elapsed.count());
  a.bytes_out = bytes_out;
  log::access(a);
}

void Relay::complete(Exchange& ex, std::size_t bytes_out) {
  // One clock read for the three of them.
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - ex.started);
  if (cfg_.gateway.metrics.enabled) {
    observe(ex, elapsed);
  }
  if (log::access_enabled()) {
    log_access(ex, bytes_out, elapsed);
  }
  close_audit(ex, bytes_out, elapsed);
  if (ex.trace.sampled) {
    end_trace(ex);
  }
}

}  // namespace mcpgw::relay
