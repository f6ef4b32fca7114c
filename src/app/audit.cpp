// `mcpgw audit tail|query`: reading the audit trail.
#include "access/audit.hpp"
#include "access/key_store.hpp"
#include "app/serve.hpp"
#include "common/clock.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace mcpgw::app {

namespace {

std::string when(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

boost::json::object to_json(const access::AuditRecord& r) {
  boost::json::object o;
  o["time"] = when(r.ts_ms);
  o["ts_ms"] = r.ts_ms;
  o["principal"] = r.principal;
  o["session"] = r.session;
  o["client"] = r.client;
  o["server"] = r.server;
  o["method"] = r.method;
  o["target"] = r.target;
  o["args_digest"] = r.args_digest;
  if (!r.arguments.empty()) {
    o["arguments"] = r.arguments;
  }
  o["outcome"] = r.outcome;
  o["detail"] = r.detail;
  o["latency_us"] = r.latency_us;
  o["bytes_in"] = r.bytes_in;
  o["bytes_out"] = r.bytes_out;
  return o;
}

}  // namespace

int audit_command(const AuditArgs& a) {
  access::AuditQuery q;
  q.principal = a.key;
  q.tool = a.tool;
  q.outcome = a.outcome;
  if (a.action == "tail") {
    q.limit = a.lines;
  }
  if (!a.since.empty()) {
    auto secs = access::parse_duration(a.since);
    if (!secs) {
      fmt::print(stderr, "error: --since: expected a duration like 1h, 30m or 7d, got \"{}\"\n",
                 a.since);
      return 2;
    }
    q.since_ms = unix_ms() - *secs * 1000;
  }
  std::string error;
  auto rows = access::query_audit(a.store, q, error);
  if (!rows) {
    fmt::print(stderr, "error: {}\n", error);
    return 1;
  }
  for (const auto& r : *rows) {
    if (a.json) {
      fmt::print("{}\n", boost::json::serialize(to_json(r)));
    } else {
      fmt::print("{} {:<16} {:<8} {:<14} {:<16} {:<32} {:>8}µs {}{}\n", when(r.ts_ms), r.principal,
                 r.outcome, r.method, r.server.empty() ? "-" : r.server, r.target, r.latency_us,
                 r.client.empty() ? "" : "client=" + r.client + " ", r.detail);
    }
  }
  return 0;
}

}  // namespace mcpgw::app
