#include "gate/skeleton.hpp"

#include "common/text.hpp"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>

namespace mcpgw::gate {

namespace {

constexpr char kOther = '\x01';

/// Decodes one UTF-8 sequence at `i`; an invalid byte comes back as U+FFFD (one byte).
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) -> int {
    if (i + k >= s.size()) return -1;
    const auto b = static_cast<unsigned char>(s[i + k]);
    return (b & 0xC0) == 0x80 ? (b & 0x3F) : -1;
  };
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  std::size_t n = (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
  char32_t cp = n == 2 ? (b0 & 0x1F) : n == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    const int c = cont(k);
    if (c < 0) {
      n = 0;
      break;
    }
    cp = (cp << 6) | static_cast<char32_t>(c);
  }
  if (n == 0) {
    ++i;
    return 0xFFFD;
  }
  i += n;
  return cp;
}

/// Reads `n` hex digits at `s[i]` (all of them, or nullopt).
std::optional<char32_t> hex_at(std::string_view s, std::size_t i, std::size_t n) {
  if (i + n > s.size()) return std::nullopt;
  char32_t v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const int d = hex_digit(s[i + k]);
    if (d < 0) return std::nullopt;
    v = v * 16 + static_cast<char32_t>(d);
  }
  return v;
}

// Named character references that spell or hide the characters of a marker or an injection.
constexpr std::array<std::pair<std::string_view, char32_t>, 18> kNamed{{
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
    {"shy", 0xAD}, {"zwj", 0x200D}, {"zwnj", 0x200C}, {"hyphen", 0x2010}, {"dash", 0x2010},
    {"ndash", 0x2013}, {"mdash", 0x2014}, {"minus", 0x2212}, {"lowbar", '_'}, {"period", '.'},
    {"colon", ':'}, {"sol", '/'},
}};

/// `&#109;`, `&#x6d;` or `&name;` at `s[i]` (which is '&'): the character, and `i` past it.
std::optional<char32_t> html_reference(std::string_view s, std::size_t& i) {
  const std::size_t semi = s.find(';', i + 1);
  if (semi == std::string_view::npos || semi - i > 10 || semi == i + 1) return std::nullopt;
  const std::string_view body = s.substr(i + 1, semi - i - 1);
  char32_t cp = 0;
  if (body[0] == '#') {
    const bool hex = body.size() > 1 && (body[1] == 'x' || body[1] == 'X');
    const std::string_view digits = body.substr(hex ? 2 : 1);
    if (digits.empty()) return std::nullopt;
    for (char c : digits) {
      const int d = hex ? hex_digit(c) : (c >= '0' && c <= '9' ? c - '0' : -1);
      if (d < 0 || cp > 0x10FFFF) return std::nullopt;
      cp = cp * (hex ? 16 : 10) + static_cast<char32_t>(d);
    }
    if (cp > 0x10FFFF) return std::nullopt;
  } else {
    const auto* it = std::find_if(kNamed.begin(), kNamed.end(),
                                  [&](const auto& e) { return e.first == body; });
    if (it == kNamed.end()) return std::nullopt;
    cp = it->second;
  }
  i = semi + 1;
  return cp;
}

/// `\uXXXX` (a surrogate pair as one character), `\u{X…}` or `\xHH` at `s[i]` (a backslash).
std::optional<char32_t> escape(std::string_view s, std::size_t& i) {
  if (i + 1 >= s.size()) return std::nullopt;
  if (s[i + 1] == 'x') {
    auto v = hex_at(s, i + 2, 2);
    if (v) i += 4;
    return v;
  }
  if (s[i + 1] != 'u') return std::nullopt;
  if (i + 2 < s.size() && s[i + 2] == '{') {
    const std::size_t close = s.find('}', i + 3);
    if (close == std::string_view::npos || close - i - 3 == 0 || close - i - 3 > 6) return std::nullopt;
    auto v = hex_at(s, i + 3, close - i - 3);
    if (v && *v <= 0x10FFFF) i = close + 1;
    return v && *v <= 0x10FFFF ? v : std::nullopt;
  }
  auto hi = hex_at(s, i + 2, 4);
  if (!hi) return std::nullopt;
  if (*hi >= 0xD800 && *hi < 0xDC00 && i + 12 <= s.size() && s[i + 6] == '\\' &&
      s[i + 7] == 'u') {
    auto lo = hex_at(s, i + 8, 4);
    if (lo && *lo >= 0xDC00 && *lo < 0xE000) {
      i += 12;
      return 0x10000 + ((*hi - 0xD800) << 10) + (*lo - 0xDC00);
    }
  }
  i += 6;
  return *hi;
}

// Small capitals and turned letters: ICU keeps them apart from Latin letters, a reader does not.
constexpr std::array<std::pair<char32_t, char>, 24> kSmallCapitals{{
    {0x1D00, 'a'}, {0x0299, 'b'}, {0x1D04, 'c'}, {0x1D05, 'd'}, {0x1D07, 'e'}, {0xA730, 'f'},
    {0x0262, 'g'}, {0x029C, 'h'}, {0x026A, 'i'}, {0x1D0A, 'j'}, {0x1D0B, 'k'}, {0x029F, 'l'},
    {0x1D0D, 'm'}, {0x028D, 'm'}, {0x0274, 'n'}, {0x1D0F, 'o'}, {0x1D18, 'p'}, {0x0280, 'r'},
    {0xA731, 's'}, {0x1D1B, 't'}, {0x1D1C, 'u'}, {0x1D20, 'v'}, {0x1D21, 'w'}, {0x028F, 'y'},
}};

class Folder {
 public:
  Folder() {
    UErrorCode err = U_ZERO_ERROR;
    nfkc_ = unorm2_getNFKCInstance(&err);
    spoof_.reset(uspoof_open(&err));
    if (U_FAILURE(err)) {
      nfkc_ = nullptr;
      spoof_.reset();
    }
  }

  /// The skeleton of one non-ASCII character (cached; the cache is bounded).
  const std::string& fold(char32_t cp) {
    auto it = cache_.find(cp);
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kCacheMax) cache_.clear();
    return cache_.emplace(cp, compute(cp)).first->second;
  }

 private:
  static constexpr std::size_t kCacheMax = 8192;
  struct CloseSpoof {
    void operator()(USpoofChecker* s) const { uspoof_close(s); }
  };

  static bool dropped(UChar32 c) {
    const auto type = u_charType(c);
    return u_hasBinaryProperty(c, UCHAR_DEFAULT_IGNORABLE_CODE_POINT) ||
           type == U_FORMAT_CHAR || type == U_NON_SPACING_MARK || type == U_ENCLOSING_MARK;
  }

  /// Case-folded confusable skeleton of `c`; `fold_first` folds before the skeleton as well.
  std::u16string confusable(UChar32 c, bool fold_first) const {
    UChar in[4];
    int32_t n = 0;
    U16_APPEND_UNSAFE(in, n, c);
    UErrorCode err = U_ZERO_ERROR;
    UChar folded[8];
    if (fold_first) {
      n = u_strFoldCase(folded, 8, in, n, U_FOLD_CASE_DEFAULT, &err);
      std::copy(folded, folded + std::min(n, 4), in);
    }
    UChar sk[32];
    const int32_t k = uspoof_getSkeleton(spoof_.get(), 0, in, n, sk, 32, &err);
    UChar out[64];
    const int32_t m = U_SUCCESS(err) ? u_strFoldCase(out, 64, sk, k, U_FOLD_CASE_DEFAULT, &err) : 0;
    return U_SUCCESS(err) ? std::u16string(out, out + m) : std::u16string();
  }

  /// ASCII reading of a skeleton: "rn" from one character is an m; small capitals are letters.
  static std::optional<std::string> ascii(const std::u16string& s) {
    if (s == u"rn") return "m";
    std::string out;
    for (char16_t ch : s) {
      if (ch < 0x80) {
        out.push_back(static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch));
        continue;
      }
      const auto* it = std::find_if(kSmallCapitals.begin(), kSmallCapitals.end(),
                                    [&](const auto& e) { return e.first == ch; });
      if (it == kSmallCapitals.end()) return std::nullopt;
      out.push_back(it->second);
    }
    return out;
  }

  std::string compute(char32_t cp) const {
    if (nfkc_ == nullptr) return std::string(1, kOther);
    UChar in[4], norm[64];
    int32_t n = 0;
    U16_APPEND_UNSAFE(in, n, static_cast<UChar32>(cp));
    UErrorCode err = U_ZERO_ERROR;
    const int32_t len = unorm2_normalize(nfkc_, in, n, norm, 64, &err);
    if (U_FAILURE(err)) return std::string(1, kOther);
    std::string out;
    for (int32_t i = 0; i < len;) {
      UChar32 c;
      U16_NEXT(norm, i, len, c);
      if (dropped(c)) continue;
      if (c < 0x80) {
        out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
      } else if (auto a = ascii(confusable(c, true)); a && !a->empty()) {
        out += *a;
      } else if (auto b = ascii(confusable(c, false)); b && !b->empty()) {
        out += *b;
      } else {
        out.push_back(kOther);
      }
    }
    return out;
  }

  const UNormalizer2* nfkc_ = nullptr;
  std::unique_ptr<USpoofChecker, CloseSpoof> spoof_;
  std::unordered_map<char32_t, std::string> cache_;
};

Folder& folder() {
  thread_local Folder f;
  return f;
}

}  // namespace

namespace {

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/// How many bytes from `i` on are ASCII that stands for itself (no '&', no '\\').
std::size_t plain_run(std::string_view text, std::size_t i) {
  std::size_t j = i;
  while (j < text.size()) {
    const auto b = static_cast<unsigned char>(text[j]);
    if (b >= 0x80 || b == '&' || b == '\\') {
      break;
    }
    ++j;
  }
  return j - i;
}

/// The skeleton of `text` into `out`, and with `offsets` where each byte came from.
void fold_into(std::string_view text, std::string& out, std::vector<std::size_t>* offsets) {
  auto emit = [&](char c, std::size_t start) {
    out.push_back(c);
    if (offsets != nullptr) offsets->push_back(start);
  };
  std::size_t i = 0;
  while (i < text.size()) {
    if (offsets == nullptr) {  // the usual case: a run of plain ASCII, lower-cased at once
      const std::size_t n = plain_run(text, i);
      const std::size_t at = out.size();
      out.append(text.substr(i, n));
      for (std::size_t k = at; k < out.size(); ++k) out[k] = ascii_lower(out[k]);
      i += n;
      if (i == text.size()) break;
    }
    const std::size_t start = i;
    const char b = text[i];
    std::optional<char32_t> cp;
    if (b == '&') {
      cp = html_reference(text, i);
    } else if (b == '\\') {
      cp = escape(text, i);
    }
    if (!cp) {
      if (static_cast<unsigned char>(b) < 0x80) {
        ++i;
        emit(ascii_lower(b), start);
        continue;
      }
      cp = next_code_point(text, i);
    }
    if (*cp < 0x80) {
      emit(ascii_lower(static_cast<char>(*cp)), start);
      continue;
    }
    for (char c : folder().fold(*cp)) {
      emit(c, start);
    }
  }
}

}  // namespace

std::string skeleton(std::string_view text, std::vector<std::size_t>* offsets) {
  std::string out;
  out.reserve(text.size());
  if (offsets != nullptr) {
    offsets->clear();
    offsets->reserve(text.size() + 1);
  }
  fold_into(text, out, offsets);
  if (offsets != nullptr) {
    offsets->push_back(text.size());
  }
  return out;
}

void append_skeleton(std::string_view text, std::string& out) { fold_into(text, out, nullptr); }

bool skeleton_is_lowercase(std::string_view text) noexcept {
  return plain_run(text, 0) == text.size();
}

}  // namespace mcpgw::gate
