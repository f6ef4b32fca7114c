#pragma once
// The built-in filters. Each maker reads its filter's settings (reporting mistakes to `diag`
// with their JSON path) and returns the factory that makes one instance per session.
#include "gate/chain.hpp"

namespace mcpgw::gate {

/// "taint": marks scopes from trust labels; denies forbidden tools; asks for approval of a
/// dangerous write from an untrusted scope, and of a public sink from an untrusted scope that
/// holds secrets (the lethal trifecta).
std::optional<FilterFactory> make_taint_filter(const config::FilterConfig& fc, Gate& gate,
                                               config::Diagnostics& diag);

/// "fence": wraps text from public_source results in fences.
std::optional<FilterFactory> make_fence_filter(const config::FilterConfig& fc, Gate& gate,
                                               config::Diagnostics& diag);

}  // namespace mcpgw::gate
