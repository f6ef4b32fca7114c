#pragma once
// One client request, from the relay's intake to its reply: who asked, what for, where it
// goes, what each stage decided and how it ended. The stages (access, audit, the security
// gate) and the method handlers all work on it; nothing recovers a fact from the reply's text.
#include "access/audit.hpp"
#include "common/clock.hpp"
#include "common/trace.hpp"
#include "relay/session.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mcpgw::relay {

struct BackendSlot;

/// What the HTTP layer knows of a request beyond its message: its request id, and for a
/// stateless (2026-07-28) request what its headers said.
struct StatelessIntake {
  std::string request_id;  ///< X-Request-Id: the client's, else the gateway's (access lines)
  std::string traceparent;  ///< the HTTP request's traceparent header, if any (tracing)
  bool mirrored = false;   ///< it came with the revision's mirrored headers (checked)
  bool continues = false;  ///< a retry of a round its server asked for (passed_rounds.cpp)
  std::string continues_at;  ///< …and the server that asked (the retry must reach it)
  /// Why its requestState was refused (a retry that continues nothing it may continue): the
  /// exchange is answered -32602 after access control, so it leaves an audit row.
  std::string refused;
  /// What this request declared it can answer (the revision declares it per request: two
  /// clients of one caller share a hidden session but not their capabilities).
  json::object client_capabilities;
  /// Its Mcp-Param-* headers: the name after the prefix, lowercase, and the value as sent.
  std::vector<std::pair<std::string, std::string>> param_headers;
};

/// How an exchange ended, set where it is known.
enum class Outcome {
  ok,          ///< a result
  tool_error,  ///< a tool result with isError
  error,       ///< a JSON-RPC error
  denied,      ///< refused by access control or the security gate
  timeout,     ///< the server did not answer by the deadline
  input_required,  ///< a round of a call ended with the server's questions (2026-07-28)
};

/// The audit row's word for it.
std::string_view to_string(Outcome o) noexcept;

struct Exchange {
  Exchange(SessionPtr s, json::object req, std::shared_ptr<EventStream> stream);

  SessionPtr session;
  std::shared_ptr<EventStream> out;  ///< where notifications about it go
  json::object request;              ///< edited in place (names as the server knows them)
  json::value id;
  std::string method;

  // Where it goes (set by the access stage; empty when the gateway answers it itself).
  std::string target;          ///< what the client named: a tool, prompt, URI, or the server
  BackendSlot* slot = nullptr;
  /// Holds `slot` while the exchange runs: a reload may retire it from the relay meanwhile.
  std::shared_ptr<BackendSlot> slot_ref;
  std::string server;          ///< the server the target resolved to (also when refused)
  std::string name;            ///< the target as its server knows it
  /// A stateless request's: the mirrored headers to check, and whether it is a later round of
  /// a call the security gate let through (a server's question passed to the client: the
  /// same call, so it is not held again).
  StatelessIntake intake;
  json::value client_id;          ///< a stateless request's own id (it travels under ours)
  std::shared_ptr<Rounds> rounds;  ///< its MRTR rounds, once a question came

  // How it ended.
  json::object reply;
  Outcome outcome = Outcome::ok;
  std::string denied;      ///< why access control refused it
  std::string decisions;   ///< what the security gate decided ("taint: approve: …; fence: …")
  Clock::time_point started;
  /// The row, opened by the audit stage; handed to the audit log whole (no copy on the loop).
  std::unique_ptr<access::AuditRecord> audit;

  // Tracing (trace_stage.cpp), when gateway.tracing is on.
  trace::Context trace;                       ///< this exchange's span
  std::optional<trace::SpanId> trace_parent;  ///< the client's span, when it named one
  bool trace_propagate = false;  ///< sampled, or a parent came: servers get the context
  std::int64_t trace_start_ns = 0;

  /// What the client can answer: a stateless request's own declaration, else its session's.
  const json::object& client_capabilities() const noexcept {
    return intake.mirrored ? intake.client_capabilities : session->client_capabilities();
  }
  /// Answers with a JSON-RPC error.
  void fail(int code, std::string_view message, json::value data = nullptr);
  /// Sets `outcome` from the reply when no stage set it (error, or a tool's isError).
  void classify();
};

}  // namespace mcpgw::relay
