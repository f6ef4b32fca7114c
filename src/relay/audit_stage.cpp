// The audit stage: one row per request that reaches (or is refused on the way to) a server,
// opened before access control and written with the reply, as it went out.
#include "relay/relay.hpp"

#include "common/text.hpp"
#include "relay/util.hpp"

#include "access/key_store.hpp"
#include "common/clock.hpp"

#include <fmt/format.h>

namespace mcpgw::relay {

bool Relay::open_audit(Exchange& ex, const char* args_key) {
  if (audit_ == nullptr) {
    return true;
  }
  if (audit_->saturated()) {
    // A call that could not be audited is not made; the event loop is not stalled waiting for
    // room in the queue either.
    ex.fail(rpc_code::kInternalError,
            fmt::format("Service unavailable: the audit trail cannot be written now ({} rows "
                        "wait for its store{}{}); try again later",
                        audit_->queued(), audit_->store_problem().empty() ? "" : ": ",
                        audit_->store_problem()));
    ex.outcome = Outcome::error;
    return false;
  }
  const Session& s = *ex.session;
  ex.audit = std::make_unique<access::AuditRecord>();
  auto& r = *ex.audit;
  r.principal = s.principal ? s.principal->name : std::string("-");
  r.session = s.id;
  r.client = std::string(string_at(s.client_info(), "name"));
  r.method = ex.method;
  // `args_key` "" digests the params whole (a method the gateway does not know). Read only:
  // the request goes on as the client sent it.
  const json::value* params = ex.request.if_contains("params");
  const json::value* args = nullptr;
  if (args_key != nullptr && *args_key == '\0') {
    args = params;
  } else if (args_key != nullptr && params != nullptr && params->is_object()) {
    args = params->get_object().if_contains(args_key);
  }
  access::set_arguments(r, args ? json::serialize(*args) : std::string("{}"),
                        cfg_.gateway.audit.arguments && args != nullptr);
  return true;
}

void Relay::close_audit(Exchange& ex, std::size_t bytes_out,
                        std::chrono::microseconds elapsed) {
  if (!ex.audit) {
    return;
  }
  auto& r = *ex.audit;
  r.target = ex.target;
  r.server = ex.server;
  r.ts_ms = unix_ms();
  r.latency_us = elapsed.count();
  r.bytes_out = static_cast<std::int64_t>(bytes_out);
  r.outcome = std::string(to_string(ex.outcome));
  switch (ex.outcome) {
    case Outcome::denied:
      // Refused by access control, else by the security gate: its decisions say why.
      r.detail = ex.denied.empty() ? ex.decisions : ex.denied;
      break;
    case Outcome::tool_error: r.detail = "the tool reported an error"; break;
    case Outcome::error:
    case Outcome::timeout:
      if (const auto* e = ex.reply.if_contains("error"); e && e->is_object()) {
        // A user's consent link is theirs: the trail keeps the words, not the ticket.
        r.detail = without_param(string_at(e->get_object(), "message").substr(0, 500), "ticket");
      }
      break;
    case Outcome::input_required: r.detail = "the server asked the client for input"; break;
    case Outcome::ok: break;
  }
  if (!ex.decisions.empty() && ex.outcome != Outcome::denied) {
    r.detail = r.detail.empty() ? ex.decisions : ex.decisions + "; " + r.detail;
  }
  audit_->record(std::move(ex.audit));
}

}  // namespace mcpgw::relay
