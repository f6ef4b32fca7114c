#include "gate/preview.hpp"

#include "access/audit.hpp"
#include "common/text.hpp"
#include "gate/walk.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>

namespace mcpgw::gate {

namespace {

constexpr std::size_t kMaxDestinations = 20;
constexpr std::size_t kMaxDestination = 300;

constexpr std::array<std::string_view, 16> kRecipientKeys{
    "to", "cc", "bcc", "recipient", "recipients", "email", "address", "url", "uri", "endpoint",
    "host", "webhook", "channel", "destination", "target", "callback"};

struct Destinations {
  std::vector<std::string> items;
  void add(std::string item) {
    if (item.size() > kMaxDestination) {
      item = fmt::format("{}… ({} bytes)", item.substr(0, kMaxDestination), item.size());
    }
    if (items.size() < kMaxDestinations &&
        std::find(items.begin(), items.end(), item) == items.end()) {
      items.push_back(std::move(item));
    }
  }
};

/// Values of recipient-like keys, at any depth, as "key=value".
void recipients(const json::value& v, Destinations& out) {
  if (v.is_array()) {
    for (const auto& item : v.get_array()) recipients(item, out);
    return;
  }
  if (!v.is_object()) return;
  for (const auto& kv : v.get_object()) {
    const std::string key = lower(kv.key());
    const bool wanted = std::find(kRecipientKeys.begin(), kRecipientKeys.end(), key) !=
                        kRecipientKeys.end();
    if (wanted && kv.value().is_string()) {
      out.add(fmt::format("{}={}", std::string_view(kv.key()),
                          std::string_view(kv.value().get_string())));
    } else if (wanted && kv.value().is_array()) {
      for (const auto& item : kv.value().get_array()) {
        if (item.is_string()) {
          out.add(fmt::format("{}={}", std::string_view(kv.key()),
                              std::string_view(item.get_string())));
        }
      }
    } else {
      recipients(kv.value(), out);
    }
  }
}

/// URLs and email addresses anywhere in `text`.
void addresses(std::string_view text, Destinations& out) {
  static const RE2 re(R"((https?://[^\s"'<>\\]+|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}))");
  re2::StringPiece input(text.data(), text.size());
  re2::StringPiece match;
  while (out.items.size() < kMaxDestinations && RE2::FindAndConsume(&input, re, &match)) {
    const std::string found(match.data(), match.size());
    const bool named = std::any_of(out.items.begin(), out.items.end(), [&](const auto& item) {
      return item.ends_with("=" + found);  // already there as a recipient's value
    });
    if (!named) {
      out.add(found);
    }
  }
}

}  // namespace

std::string approval_preview(const Call& call, const Detectors& detectors) {
  const auto* args = call.params != nullptr ? call.params->if_contains("arguments") : nullptr;
  if (args == nullptr) {
    return {};
  }
  Destinations dest;
  recipients(*args, dest);
  std::vector<std::string> hits;
  std::vector<Finding> findings;
  const std::vector<bool> all(detectors.size(), true);
  for (const auto& f : text_fields(*args).fields) {
    addresses(f.text(), dest);
    findings.clear();
    detectors.scan(f.text(), all, findings);
    for (const auto& x : findings) {
      const std::string name(detectors.name(x.detector));
      if (std::find(hits.begin(), hits.end(), name) == hits.end()) hits.push_back(name);
    }
  }
  std::string text = access::redact_arguments(json::serialize(*args));
  std::string out;
  if (!dest.items.empty()) {
    out += fmt::format("destinations: {}\n", fmt::join(dest.items, ", "));
  }
  if (!hits.empty()) {
    out += fmt::format("detectors: {}\n", fmt::join(hits, ", "));
  }
  if (text.size() > kPreviewArguments) {
    const std::size_t more = text.size() - kPreviewArguments;
    text.resize(kPreviewArguments);
    text += fmt::format("… ({} more bytes not shown)", more);
  }
  return out + text;
}

}  // namespace mcpgw::gate
