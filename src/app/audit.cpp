// `mcpgw audit tail|query`: reading the audit trail.
#include "access/audit.hpp"
#include "access/key_store.hpp"
#include "app/serve.hpp"
#include "common/clock.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

namespace mcpgw::app {

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
      fmt::print("{}\n", boost::json::serialize(access::audit_json(r)));
    } else {
      fmt::print("{} {:<16} {:<8} {:<14} {:<16} {:<32} {:>8}µs {}{}{}\n",
                 access::audit_time(r.ts_ms), r.principal, r.outcome, r.method,
                 r.server.empty() ? "-" : r.server, r.target, r.latency_us,
                 r.client.empty() ? "" : "client=" + r.client + " ",
                 r.upstream.empty() ? "" : "upstream=\"" + r.upstream + "\" ", r.detail);
    }
  }
  return 0;
}

}  // namespace mcpgw::app
