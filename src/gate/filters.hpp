#pragma once
// The built-in filters. Each maker reads its filter's settings (reporting mistakes to `diag`
// with their JSON path) and returns the factory that makes one instance per session.
#include "config/reader.hpp"
#include "gate/chain.hpp"

namespace mcpgw::gate {

/// Makes `r` (a reader of a filter's settings) name "type" and "shadow" among the keys it
/// expects: the chain reads those two itself.
void expect_common_keys(config::ObjectReader& r);

/// A call that can send data out: to a public sink, or to a tool of an open-world server given
/// an http(s) URL. Value-level flow checks these.
bool may_send_out(const Call& call);

/// "taint": marks scopes from trust labels; denies forbidden tools; asks for approval of a
/// dangerous write from an untrusted scope, and of a public sink from an untrusted scope that
/// holds secrets (the lethal trifecta).
std::optional<FilterFactory> make_taint_filter(const config::FilterConfig& fc, Gate& gate,
                                               config::Diagnostics& diag);

/// "fence": wraps text from public_source results in fences.
std::optional<FilterFactory> make_fence_filter(const config::FilterConfig& fc, Gate& gate,
                                               config::Diagnostics& diag);

/// "inspect": RE2 detectors (secrets, high-entropy strings, PII, prompt injection) and custom
/// rules, on arguments (client→server) and results (server→client), each finding acted on as
/// configured: block, approve, redact or log.
std::optional<FilterFactory> make_inspect_filter(const config::FilterConfig& fc, Gate& gate,
                                                 config::Diagnostics& diag);

/// "cop": an external inspector (an OpenAI-compatible chat-completions endpoint or a webhook)
/// gives a verdict on arguments and results, with a timeout and a failure mode.
std::optional<FilterFactory> make_cop_filter(const config::FilterConfig& fc, Gate& gate,
                                             config::Diagnostics& diag);

/// "pin": tool definitions pinned on first sight; a changed tool is quarantined until approved.
std::optional<FilterFactory> make_pin_filter(const config::FilterConfig& fc, Gate& gate,
                                             config::Diagnostics& diag);

}  // namespace mcpgw::gate
