#pragma once
// Detectors for the inspection filter and for tool descriptions: secrets (cloud and SaaS keys,
// GitHub and Slack tokens, private keys, JWTs), high-entropy strings, PII (emails, card numbers
// that pass the Luhn check) and prompt-injection phrasing, plus custom rules from config.
// Every pattern is RE2: matching is linear in the input, so no text can make a rule blow up.
// Prompt-injection patterns run on the text's skeleton (look-alike letters folded, invisible
// characters dropped), so "іgnore previous instructions" with a Cyrillic і is still seen.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgw::gate {

/// What a detector looks for. Actions can be configured per group or per detector.
enum class Group : std::uint8_t { secrets, entropy, pii, injection, custom };
std::string_view to_string(Group g) noexcept;

struct Finding {
  std::uint16_t detector = 0;  ///< index into Detectors::names()
  std::size_t begin = 0;       ///< byte offsets in the scanned text
  std::size_t end = 0;
};

struct CustomRule {
  std::string name;
  std::string pattern;  ///< RE2 syntax
};

class Detectors {
 public:
  /// The built-in detectors and `custom` rules; null with `error` when a pattern is invalid.
  static std::unique_ptr<Detectors> create(const std::vector<CustomRule>& custom,
                                           std::string& error);
  ~Detectors();

  std::size_t size() const noexcept { return patterns_.size(); }
  std::string_view name(std::uint16_t d) const;
  Group group(std::uint16_t d) const;
  /// Index of the detector called `name`, or -1.
  int find(std::string_view name) const;

  /// Appends what the detectors enabled in `enabled` (indexed by detector) find in `text`.
  void scan(std::string_view text, const std::vector<bool>& enabled,
            std::vector<Finding>& out) const;

  /// Which pattern sets `enabled` uses (patterns run on the text, patterns run on the
  /// skeleton), and whether it turns on every pattern of a set.
  struct Coverage {
    bool plain = false;
    bool folded = false;
    bool all_plain = false;
    bool all_folded = false;
  };
  Coverage coverage(const std::vector<bool>& enabled) const;

  /// False when scan() would find nothing in any of `texts`; true when it may find something.
  /// One pass of each pattern set over the texts joined, instead of one per text.
  /// `cover` is coverage(enabled), for a caller that keeps it.
  bool may_find(const std::vector<std::string_view>& texts, const std::vector<bool>& enabled,
                const Coverage& cover) const;
  bool may_find(const std::vector<std::string_view>& texts,
                const std::vector<bool>& enabled) const {
    return may_find(texts, enabled, coverage(enabled));
  }
  struct Pattern;
  struct Prefilter;  ///< an RE2 set over some patterns, and which pattern each entry is

 private:
  Detectors();
  /// Whether `pre` matches `subject` with a pattern that `enabled` turns on (`all`: every
  /// pattern of `pre` is on).
  static bool hit(const Prefilter& pre, std::string_view subject, const std::vector<bool>& enabled,
                  bool all);
  std::vector<std::unique_ptr<Pattern>> patterns_;
  std::unique_ptr<Prefilter> plain_;   ///< over the patterns run on the text itself
  std::unique_ptr<Prefilter> folded_;  ///< over the patterns run on the skeleton
  /// Over them all, run on the texts and the skeletons. When `caseless_`, its folded patterns
  /// ignore case, so a text whose skeleton is itself lower-cased needs no skeleton.
  std::unique_ptr<Prefilter> either_;
  bool caseless_ = false;
};

/// `text` with each finding's span replaced by "[redacted: NAME]" (overlapping spans merged).
std::string redact(std::string_view text, std::vector<Finding> findings, const Detectors& d);

/// Shannon entropy of `s`, in bits per character.
double shannon_entropy(std::string_view s);
/// True when the digits of `s` (other characters ignored) pass the Luhn check.
bool luhn_valid(std::string_view s);

}  // namespace mcpgw::gate
