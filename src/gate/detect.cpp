#include "gate/detect.hpp"
#include "gate/skeleton.hpp"

#include <fmt/format.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace mcpgw::gate {

enum class Check : std::uint8_t { none, luhn, entropy_base64, entropy_hex };

struct Detectors::Pattern {
  std::string name;
  Group group;
  Check check;
  bool folded;  ///< runs on the skeleton
  std::unique_ptr<RE2> re;
};

struct Detectors::Prefilter {
  RE2::Set set;
  std::vector<int> index;  ///< set entry → pattern
  bool joinable = true;    ///< no pattern has an anchor: texts can be matched joined
  Prefilter();
};

namespace {

struct Builtin {
  std::string_view name;
  Group group;
  Check check;
  bool folded;
  std::string_view pattern;
};

// Built-in detectors. Secrets are matched by their issuers' documented formats; the injection
// patterns run on the lower-case skeleton of the text.
constexpr Builtin kBuiltins[] = {
    {"aws_access_key", Group::secrets, Check::none, false,
     R"(\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b)"},
    {"aws_secret_key", Group::secrets, Check::none, false,
     R"((?i)aws.{0,20}?(?:secret|private).{0,20}?['"]?\s*[:=]\s*['"]?[A-Za-z0-9/+]{40}\b)"},
    {"google_api_key", Group::secrets, Check::none, false, R"(\bAIza[0-9A-Za-z_\-]{35}\b)"},
    {"github_token", Group::secrets, Check::none, false,
     R"(\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b)"},
    {"slack_token", Group::secrets, Check::none, false,
     R"(\bxox[abposre]-[A-Za-z0-9\-]{10,250}|https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,})"},
    {"llm_api_key", Group::secrets, Check::none, false,
     R"(\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{32,}\b)"},
    {"stripe_key", Group::secrets, Check::none, false, R"(\b[rs]k_live_[0-9A-Za-z]{24,}\b)"},
    {"private_key", Group::secrets, Check::none, false,
     R"((?s)-----BEGIN[A-Z ]{0,20} PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END[A-Z ]{0,20} PRIVATE KEY(?: BLOCK)?-----|.*))"},
    {"jwt", Group::secrets, Check::none, false,
     R"(\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})"},
    {"high_entropy", Group::entropy, Check::entropy_base64, false, R"([A-Za-z0-9+/_\-]{32,}={0,2})"},
    {"high_entropy", Group::entropy, Check::entropy_hex, false, R"(\b[0-9a-fA-F]{32,}\b)"},
    {"email", Group::pii, Check::none, false,
     R"(\b[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24}\b)"},
    {"card_number", Group::pii, Check::luhn, false, R"(\b(?:\d[ \-]?){12,18}\d\b)"},
    {"prompt_injection", Group::injection, Check::none, true,
     R"(\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|each|every|the|your|my|these|those|of)\s+)*(?:(?:previous|prior|above|earlier|preceding|original|former|system|safety|developer)\s+)+(?:instructions?|directions?|prompts?|rules|guidelines|guardrails|commands?|context|messages?)\b)"},
    {"prompt_injection", Group::injection, Check::none, true,
     R"(\b(?:new|updated|revised|real|actual|secret|hidden)\s+(?:system\s+)?instructions?\s*:)"},
    {"prompt_injection", Group::injection, Check::none, true,
     R"(\b(?:reveal|print|show|repeat|output|leak)\s+(?:me\s+)?(?:your|the)\s+(?:(?:full|entire|hidden|initial|original)\s+)?(?:system\s+prompt|instructions|hidden\s+prompt|developer\s+message))"},
    {"prompt_injection", Group::injection, Check::none, true,
     R"(\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention\s+(?:this\s+|it\s+)?to|alert|notify|show)\s+the\s+user\b|\bwithout\s+(?:telling|informing|notifying|alerting)\s+the\s+user\b)"},
    {"prompt_injection", Group::injection, Check::none, true,
     R"(\byou\s+are\s+(?:now\s+)?(?:in\s+)?(?:developer|god|dan|jailbreak|jailbroken|unrestricted|unfiltered)\s*(?:mode)?\b|\bsystem\s+override\b)"},
    {"prompt_injection", Group::injection, Check::none, true,
     R"(<\|?\s*(?:im_start|im_end|endoftext)\s*\|?>|\[/?inst\]|<\s*/?\s*(?:system|important|instructions?)\s*>)"},
    {"prompt_injection", Group::injection, Check::none, true,
     R"(\b(?:read|send|pass|include|upload|attach|exfiltrate|forward|copy)\b[^\n]{0,80}(?:~/\.ssh|id_rsa|id_ed25519|\.aws/credentials|/etc/passwd|/etc/shadow|\.netrc|\.npmrc|mcp\.json))"},
};

bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}
bool has_lower(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}
bool has_digit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool passes(Check check, std::string_view m) {
  switch (check) {
    case Check::none:
      return true;
    case Check::luhn:
      return luhn_valid(m);
    case Check::entropy_base64:
      // Random keys mix cases and digits; long words, paths and identifiers rarely reach
      // 4.3 bits per character.
      return has_upper(m) && has_lower(m) && has_digit(m) && shannon_entropy(m) >= 4.3;
    case Check::entropy_hex:
      return has_digit(m) && shannon_entropy(m) >= 3.5;
  }
  return true;
}

/// Whether `p` may hold an anchor (^, $, \A or \z outside a character class). Errs towards
/// yes: a pattern with one cannot be run over texts joined together.
bool may_anchor(std::string_view p) {
  bool in_class = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      if (!in_class && i + 1 < p.size() && (p[i + 1] == 'A' || p[i + 1] == 'z')) {
        return true;
      }
      ++i;
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
      i += i + 1 < p.size() && p[i + 1] == '^' ? 1 : 0;  // "[]…]" and "[^]…]": ']' is literal
      i += i + 1 < p.size() && p[i + 1] == ']' ? 1 : 0;
    } else if (c == '^' || c == '$') {
      return true;
    }
  }
  return false;
}

/// Whether `p` ignoring case matches wherever `p` matches a lower-cased text, and there at
/// least: true unless a negated character class names a letter (`[^a-z]` would refuse the
/// 'A' that the lower-cased text has as 'a').
bool caseless_superset(std::string_view p) {
  bool negated = false;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      ++i;  // an escape (\n, \s, \W…) means the same in either case
    } else if (c == '[') {
      negated = i + 1 < p.size() && p[i + 1] == '^';
    } else if (c == ']') {
      negated = false;
    } else if (negated && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
      return false;
    }
  }
  return true;
}

/// Texts above this size together are scanned one by one (joining them would copy them).
constexpr std::size_t kJoinMax = 1 << 20;

RE2::Options options() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(16 << 20);
  return o;
}

}  // namespace

std::string_view to_string(Group g) noexcept {
  switch (g) {
    case Group::secrets: return "secrets";
    case Group::entropy: return "entropy";
    case Group::pii: return "pii";
    case Group::injection: return "injection";
    case Group::custom: return "custom";
  }
  return "custom";
}

Detectors::Prefilter::Prefilter() : set(options(), RE2::UNANCHORED) {}
Detectors::Detectors()
    : plain_(std::make_unique<Prefilter>()), folded_(std::make_unique<Prefilter>()),
      either_(std::make_unique<Prefilter>()) {}
Detectors::~Detectors() = default;

std::unique_ptr<Detectors> Detectors::create(const std::vector<CustomRule>& custom,
                                             std::string& error) {
  std::unique_ptr<Detectors> d(new Detectors());
  auto add = [&](std::string name, Group group, Check check, bool folded,
                 std::string_view pattern) {
    auto p = std::make_unique<Pattern>();
    p->name = std::move(name);
    p->group = group;
    p->check = check;
    p->folded = folded;
    p->re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), options());
    if (!p->re->ok()) {
      error = fmt::format("rule \"{}\": invalid pattern: {}", p->name, p->re->error());
      return false;
    }
    d->patterns_.push_back(std::move(p));
    return true;
  };
  for (const auto& b : kBuiltins) {
    if (!add(std::string(b.name), b.group, b.check, b.folded, b.pattern)) {
      return nullptr;
    }
  }
  for (const auto& r : custom) {
    if (!add(r.name, Group::custom, Check::none, false, r.pattern)) {
      return nullptr;
    }
  }
  d->caseless_ = std::all_of(d->patterns_.begin(), d->patterns_.end(), [](const auto& p) {
    return !p->folded || caseless_superset(p->re->pattern());
  });
  for (std::size_t i = 0; i < d->patterns_.size(); ++i) {
    auto& p = *d->patterns_[i];
    for (Prefilter* pre : {p.folded ? d->folded_.get() : d->plain_.get(), d->either_.get()}) {
      const bool caseless = pre == d->either_.get() && p.folded && d->caseless_;
      const std::string pattern = caseless ? "(?i:" + p.re->pattern() + ")" : p.re->pattern();
      std::string why;
      if (pre->set.Add(pattern, &why) < 0) {
        error = fmt::format("rule \"{}\": {}", p.name, why);
        return nullptr;
      }
      pre->index.push_back(static_cast<int>(i));
      pre->joinable = pre->joinable && !may_anchor(p.re->pattern());
    }
  }
  if (!d->plain_->set.Compile() || !d->folded_->set.Compile() || !d->either_->set.Compile()) {
    error = "the rules need more memory than RE2 allows (16 MiB); simplify the custom rules";
    return nullptr;
  }
  return d;
}

std::string_view Detectors::name(std::uint16_t d) const { return patterns_.at(d)->name; }
Group Detectors::group(std::uint16_t d) const { return patterns_.at(d)->group; }

int Detectors::find(std::string_view name) const {
  for (std::size_t i = 0; i < patterns_.size(); ++i) {
    if (patterns_[i]->name == name) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void Detectors::scan(std::string_view text, const std::vector<bool>& enabled,
                     std::vector<Finding>& out) const {
  // `offsets_of()` maps subject offsets back to the text: asked for only once a pattern hit.
  auto run = [&](const Prefilter& pre, std::string_view subject, auto&& offsets_of) {
    std::vector<int> hits;
    if (!pre.set.Match(re2::StringPiece(subject.data(), subject.size()), &hits)) {
      return;
    }
    const std::vector<std::size_t>* offsets = offsets_of();
    for (int h : hits) {
      const auto d = static_cast<std::uint16_t>(pre.index[static_cast<std::size_t>(h)]);
      if (d >= enabled.size() || !enabled[d]) {
        continue;
      }
      const Pattern& p = *patterns_[d];
      const re2::StringPiece whole(subject.data(), subject.size());
      std::size_t pos = 0;
      re2::StringPiece m;
      while (pos <= subject.size() &&
             p.re->Match(whole, pos, subject.size(), RE2::UNANCHORED, &m, 1)) {
        const auto b = static_cast<std::size_t>(m.data() - subject.data());
        const auto e = b + m.size();
        if (passes(p.check, std::string_view(m.data(), m.size()))) {
          if (offsets != nullptr) {
            out.push_back({d, (*offsets)[b], (*offsets)[e]});
          } else {
            out.push_back({d, b, e});
          }
        }
        pos = e > b ? e : b + 1;
      }
    }
  };
  const Coverage cover = coverage(enabled);
  const bool any_plain = cover.plain, any_folded = cover.folded;
  if (any_plain) {
    run(*plain_, text, [] { return static_cast<const std::vector<std::size_t>*>(nullptr); });
  }
  if (any_folded) {
    // Most text matches nothing: the offsets (8 bytes per character) are built only on a hit.
    const std::string sk = skeleton(text);
    std::vector<std::size_t> offsets;
    run(*folded_, sk, [&] {
      skeleton(text, &offsets);
      return static_cast<const std::vector<std::size_t>*>(&offsets);
    });
  }
}

Detectors::Coverage Detectors::coverage(const std::vector<bool>& enabled) const {
  Coverage c;
  c.all_plain = c.all_folded = true;
  for (std::size_t i = 0; i < patterns_.size(); ++i) {
    const bool on = i < enabled.size() && enabled[i];
    (patterns_[i]->folded ? c.folded : c.plain) |= on;
    (patterns_[i]->folded ? c.all_folded : c.all_plain) &= on;
  }
  return c;
}

bool Detectors::hit(const Prefilter& pre, std::string_view subject,
                    const std::vector<bool>& enabled, bool all) {
  const re2::StringPiece text(subject.data(), subject.size());
  if (all) {
    // Which entry matched does not matter: the set stops at its first match and keeps no
    // list of entries (the usual policy turns every detector on).
    return pre.set.Match(text, nullptr);
  }
  std::vector<int> hits;
  if (!pre.set.Match(text, &hits)) {
    return false;
  }
  return std::any_of(hits.begin(), hits.end(), [&](int h) {
    const auto d = static_cast<std::size_t>(pre.index[static_cast<std::size_t>(h)]);
    return d < enabled.size() && enabled[d];
  });
}

bool Detectors::may_find(const std::vector<std::string_view>& texts,
                         const std::vector<bool>& enabled, const Coverage& cover) const {
  // Joined by a newline: a match inside one text is a match of the joined text, as long as
  // no pattern is anchored (\b sees a non-word character at a text's edge either way).
  std::size_t total = 0;
  for (auto t : texts) {
    total += t.size() + 1;
  }
  if (total > kJoinMax || (cover.plain && !plain_->joinable) ||
      (cover.folded && !folded_->joinable)) {
    return true;
  }
  std::string joined;
  joined.reserve(cover.plain && cover.folded ? 2 * total : total);
  if (cover.plain) {
    for (auto t : texts) {
      joined.append(t).push_back('\n');
    }
  }
  // Both kinds on: one pass of every pattern over the texts and their skeletons, but for a
  // text whose skeleton is itself lower-cased the folded patterns, ignoring case, see the
  // text itself. A pattern that meets the other kind's subject can only say "maybe", which
  // scan() then settles.
  const bool both = cover.plain && cover.folded;
  if (cover.folded) {
    for (auto t : texts) {
      if (!(both && caseless_ && skeleton_is_lowercase(t))) {
        append_skeleton(t, joined);
        joined.push_back('\n');
      }
    }
  }
  if (both) {
    return hit(*either_, joined, enabled, cover.all_plain && cover.all_folded);
  }
  return (cover.plain || cover.folded) &&
         hit(cover.plain ? *plain_ : *folded_, joined, enabled,
             cover.plain ? cover.all_plain : cover.all_folded);
}

std::string redact(std::string_view text, std::vector<Finding> findings, const Detectors& d) {
  std::sort(findings.begin(), findings.end(),
            [](const Finding& a, const Finding& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t i = 0; i < findings.size();) {
    std::size_t begin = findings[i].begin, end = findings[i].end;
    std::string names(d.name(findings[i].detector));
    std::size_t j = i + 1;
    for (; j < findings.size() && findings[j].begin < end; ++j) {
      end = std::max(end, findings[j].end);
      const auto n = d.name(findings[j].detector);
      if (names.find(n) == std::string::npos) {
        names += fmt::format(", {}", n);
      }
    }
    begin = std::max(begin, copied);
    out.append(text.substr(copied, begin - copied));
    out.append(fmt::format("[redacted: {}]", names));
    copied = std::max(copied, end);
    i = j;
  }
  out.append(text.substr(std::min(copied, text.size())));
  return out;
}

double shannon_entropy(std::string_view s) {
  if (s.empty()) {
    return 0;
  }
  std::array<std::size_t, 256> counts{};
  for (char c : s) {
    ++counts[static_cast<unsigned char>(c)];
  }
  double h = 0;
  const double n = static_cast<double>(s.size());
  for (auto c : counts) {
    if (c != 0) {
      const double p = static_cast<double>(c) / n;
      h -= p * std::log2(p);
    }
  }
  return h;
}

bool luhn_valid(std::string_view s) {
  int sum = 0, count = 0;
  bool twice = false;
  char first = 0;
  bool all_same = true;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (*it < '0' || *it > '9') {
      continue;
    }
    if (first == 0) {
      first = *it;
    } else if (*it != first) {
      all_same = false;
    }
    int v = *it - '0';
    if (twice) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
    twice = !twice;
    ++count;
  }
  return count >= 13 && count <= 19 && !all_same && sum % 10 == 0;
}

}  // namespace mcpgw::gate
