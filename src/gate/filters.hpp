#pragma once
// The built-in filters. Each maker reads its filter's settings (reporting mistakes to `diag`
// with their JSON path) and returns the factory that makes one instance per session.
#include "gate/chain.hpp"

#include <initializer_list>

namespace mcpgw::gate {

/// Reads one filter's settings: typed getters that report mistakes with their JSON path, and
/// `finish()` that names any key nobody asked for.
class Settings {
 public:
  Settings(const config::FilterConfig& fc, config::Diagnostics& diag) : fc_(fc), diag_(diag) {}
  const json::value* get(std::string_view key);
  bool str(std::string_view key, std::string& out);
  /// `out` must be one of `allowed`.
  bool choice(std::string_view key, std::string& out, std::initializer_list<std::string_view> allowed);
  bool integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max);
  std::string path(std::string_view key) const;
  void error(std::string_view key, std::string_view message);
  /// Reports keys that were never read.
  void finish();
  bool ok() const noexcept { return ok_; }

 private:
  const config::FilterConfig& fc_;
  config::Diagnostics& diag_;
  std::vector<std::string> read_{"type", "shadow"};
  bool ok_ = true;
};

/// "taint": marks scopes from trust labels; denies forbidden tools; asks for approval of a
/// dangerous write from an untrusted scope, and of a public sink from an untrusted scope that
/// holds secrets (the lethal trifecta).
std::optional<FilterFactory> make_taint_filter(const config::FilterConfig& fc, Gate& gate,
                                               config::Diagnostics& diag);

/// "fence": wraps text from public_source results in fences.
std::optional<FilterFactory> make_fence_filter(const config::FilterConfig& fc, Gate& gate,
                                               config::Diagnostics& diag);

}  // namespace mcpgw::gate

namespace mcpgw::gate {

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
