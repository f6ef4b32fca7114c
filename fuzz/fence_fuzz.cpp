// Fences and detectors on untrusted text: no text survives neutralisation with a marker its
// skeleton still spells, and the detectors' findings lie inside the text and can be redacted.
#include "gate/detect.hpp"
#include "gate/fence.hpp"
#include "gate/skeleton.hpp"

#include <cstdlib>
#include <memory>
#include <string_view>

namespace {

const mcpgw::gate::Detectors& detectors() {
  static const auto d = [] {
    std::string error;
    auto made = mcpgw::gate::Detectors::create({{"custom", "(?i)secret-[a-z0-9]{8}"}}, error);
    if (!made) {
      std::abort();
    }
    return made;
  }();
  return *d;
}

bool spells_marker(std::string_view text) {
  const std::string sk = mcpgw::gate::skeleton(text);
  for (std::size_t pos = sk.find("mcpgw"); pos != std::string::npos; pos = sk.find("mcpgw", pos + 1)) {
    std::size_t j = pos + 5;
    while (j < sk.size() && (sk[j] == '-' || sk[j] == '_' || sk[j] == ' ' || sk[j] == '.')) {
      ++j;
    }
    if (sk.compare(j, 9, "untrusted") == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (spells_marker(mcpgw::gate::neutralize_markers(text))) {
    std::abort();
  }
  (void)mcpgw::gate::fence(text, "fuzz", "0123456789abcdef");
  const auto& d = detectors();
  std::vector<bool> all(d.size(), true);
  std::vector<mcpgw::gate::Finding> found;
  d.scan(text, all, found);
  for (const auto& f : found) {
    if (f.begin > f.end || f.end > text.size() || f.detector >= d.size()) {
      std::abort();
    }
  }
  (void)mcpgw::gate::redact(text, found, d);
  (void)mcpgw::gate::shannon_entropy(text);
  (void)mcpgw::gate::luhn_valid(text);
  return 0;
}
