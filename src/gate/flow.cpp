#include "gate/flow.hpp"

#include "access/key_store.hpp"
#include "common/base64.hpp"
#include "common/random.hpp"
#include "common/text.hpp"
#include "gate/walk.hpp"

#include <algorithm>
#include <array>
#include <unordered_set>

#include <fmt/format.h>

namespace mcpgw::gate {

namespace {

struct Key {
  std::uint64_t k0, k1;
  bool used = false;  ///< a value's hashes were kept
};

Key& key() {
  static Key k{std::stoull(random_hex(8), nullptr, 16),
               std::stoull(random_hex(8), nullptr, 16)};
  return k;
}

/// A keyed 64-bit hash (FNV-1a from a secret basis, then a SplitMix64 finalizer).
std::uint64_t keyed_hash(std::string_view gram) {
  std::uint64_t h = key().k0;
  for (char c : gram) {
    h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  }
  h ^= key().k1;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

template <class F>
void each_gram(std::string_view normalized, F&& f) {
  for (std::size_t i = 0; i + SecretValues::kGram <= normalized.size(); ++i) {
    f(keyed_hash(normalized.substr(i, SecretValues::kGram)));
  }
}

bool separator(char c) {
  constexpr std::string_view kSeparators = " \t\r\n\"'`=:,;()<>[]{}|&?#";
  return kSeparators.find(c) != std::string_view::npos;
}

/// Worth remembering: long enough, letters and digits or mixed case (not a plain word, a
/// number or a date), and not an address (an email address or a URL is meant to be sent).
bool secret_looking(std::string_view token) {
  if (token.size() < SecretValues::kMinToken || token.find('@') != std::string_view::npos ||
      token.starts_with("http")) {
    return false;
  }
  bool digit = false, upper = false, lower = false;
  std::array<bool, 256> seen{};
  std::size_t distinct = 0;
  for (char c : token) {
    digit |= c >= '0' && c <= '9';
    upper |= c >= 'A' && c <= 'Z';
    lower |= c >= 'a' && c <= 'z';
    auto& s = seen[static_cast<unsigned char>(c)];
    distinct += s ? 0 : 1;
    s = true;
  }
  return distinct >= 6 && ((digit && (upper || lower)) || (upper && lower));
}

template <class F>
void each_token(std::string_view text, F&& f, bool (*split)(char)) {
  std::size_t start = 0;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || split(text[i])) {
      if (i > start) f(text.substr(start, i - start));
      start = i + 1;
    }
  }
}

bool not_base64(char c) {
  return !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '-' || c == '_');
}

bool not_hex(char c) { return hex_digit(c) < 0; }

/// Percent-decoding that reads past what a strict decoder refuses: a '%' without two hex
/// digits stays as it is (a server that receives the URL is as lenient, so an agent could
/// hide a value behind one stray '%'), and '+' is a space.
std::string url_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const int hi = s[i] == '%' && i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
    const int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
    if (lo >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

/// The decodings of `text` that one way of encoding gives, normalized.
std::vector<std::string> decodings(std::string_view text, int how) {
  std::vector<std::string> out;
  if (how == 0) {
    out.push_back(normalize_value(text));
  } else if (how == 1) {
    each_token(text, [&](std::string_view t) {
      if (t.size() < 12) return;
      std::string s(t);
      std::replace(s.begin(), s.end(), '-', '+');
      std::replace(s.begin(), s.end(), '_', '/');
      for (std::size_t skip = 0; skip < 4; ++skip) {  // where the encoding starts is unknown
        std::string_view part(s.data() + skip, (s.size() - skip) / 4 * 4);
        if (auto bytes = base64_decode(part); bytes && is_text(*bytes)) {
          out.push_back(normalize_value(*bytes));
        }
      }
    }, not_base64);
  } else if (how == 2) {
    each_token(text, [&](std::string_view t) {
      if (t.size() < 16) return;
      if (auto bytes = from_hex(t); bytes && is_text(*bytes)) out.push_back(normalize_value(*bytes));
    }, not_hex);
  } else if (text.find('%') != std::string_view::npos) {
    out.push_back(normalize_value(url_decode(text)));
  }
  return out;
}

constexpr std::array<std::string_view, 4> kHow{"as it was", "base64-encoded", "hex-encoded",
                                               "URL-encoded"};

}  // namespace

std::string normalize_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      out.push_back(c);
    }
  }
  return out;
}

bool SecretValues::remember(std::string_view value, std::string_view source) {
  const std::string n = normalize_value(value);
  if (n.size() < kMinLength) {
    return false;
  }
  std::vector<std::uint64_t> grams;
  grams.reserve(n.size() - kGram + 1);
  each_gram(n, [&](std::uint64_t h) { grams.push_back(h); });
  bool added = false;
  if (!keep(source, grams, added)) {
    return false;
  }
  if (sharing_ && added) {  // a value known already (read again) is not written again
    unshared_.push_back({std::string(source), std::move(grams)});
  }
  return true;
}

bool SecretValues::adopt(std::string_view source, const std::vector<std::uint64_t>& grams) {
  bool added = false;
  return keep(source, grams, added);
}

bool SecretValues::keep(std::string_view source, const std::vector<std::uint64_t>& grams,
                        bool& added) {
  if (grams.empty() || grams_.size() + grams.size() > kMaxGrams) {
    return false;
  }
  auto it = std::find(sources_.begin(), sources_.end(), source);
  const auto src = static_cast<std::uint32_t>(it - sources_.begin());
  if (it == sources_.end()) sources_.emplace_back(source);
  const auto index = static_cast<std::uint32_t>(values_.size());
  std::uint32_t distinct = 0;
  for (auto h : grams) {
    distinct += grams_.try_emplace(h, index).second ? 1 : 0;
  }
  if (distinct == 0) {
    return true;  // every n-gram already belongs to a value kept before
  }
  key().used = true;  // hashes under this key are kept now: it may not change
  values_.push_back({src, distinct});
  added = true;
  return true;
}

bool set_flow_key(std::string_view secret) {
  if (key().used) {
    return false;
  }
  const std::string digest = access::sha256_hex(fmt::format("mcpgw value flow\n{}", secret));
  key().k0 = std::stoull(digest.substr(0, 16), nullptr, 16);
  key().k1 = std::stoull(digest.substr(16, 16), nullptr, 16);
  return true;
}

void SecretValues::remember_tokens(std::string_view text, std::string_view source,
                                   const std::vector<std::string>& sent) {
  each_token(text, [&](std::string_view t) {
    if (secret_looking(t) &&
        std::find(sent.begin(), sent.end(), normalize_value(t)) == sent.end()) {
      remember(t, source);
    }
  }, separator);
}

void SecretValues::tokens(std::string_view text, std::vector<std::string>& out) {
  each_token(text, [&](std::string_view t) {
    if (secret_looking(t)) out.push_back(normalize_value(t));
  }, separator);
}

std::optional<SecretValues::Match> SecretValues::find(
    const std::vector<std::string_view>& texts) const {
  if (values_.empty()) {
    return std::nullopt;
  }
  for (int how = 0; how < static_cast<int>(kHow.size()); ++how) {
    std::unordered_set<std::uint64_t> seen;
    std::unordered_map<std::uint32_t, std::uint32_t> hits;  // value → distinct n-grams found
    for (auto t : texts) {
      for (const auto& d : decodings(t, how)) {
        each_gram(d, [&](std::uint64_t h) {
          auto g = grams_.find(h);
          if (g != grams_.end() && seen.insert(h).second) ++hits[g->second];
        });
      }
    }
    for (const auto& [v, n] : hits) {
      if (n >= 3 && 2 * n >= values_[v].grams) {
        return Match{sources_[values_[v].source], std::string(kHow[static_cast<std::size_t>(how)])};
      }
    }
  }
  return std::nullopt;
}

}  // namespace mcpgw::gate
