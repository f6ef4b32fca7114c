#pragma once
// What a person deciding on a held call is shown. A long payload must not hide where it goes:
// the preview starts with every destination in the arguments (URLs and email addresses found
// anywhere in them, and the values of recipient-like keys: to, cc, url, channel…) in full,
// then every detector that fires on them, then the arguments themselves (values under secret
// names redacted), cut at a limit that the preview says it hit.
#include "gate/chain.hpp"

#include <string>

namespace mcpgw::gate {

/// The arguments part is cut at this many bytes.
constexpr std::size_t kPreviewArguments = 2048;

std::string approval_preview(const Call& call, const Detectors& detectors);

}  // namespace mcpgw::gate
