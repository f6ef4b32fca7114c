#pragma once
// Small text helpers shared by the CLI, the config and the relay.
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw {

/// `n` bytes as lower-case hex (ids, digests).
inline std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return out;
}

/// The value of one hex digit, or -1.
inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The bytes `s` spells in hex, or nullopt when it is not hex (an odd length, another
/// character).
inline std::optional<std::string> from_hex(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  std::string out(s.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_digit(s[2 * i]);
    const int lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

/// `s` in ASCII lower case (header names, tokens, keywords).
inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

/// Without the spaces and tabs around it (and a trailing CR).
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

/// "a, b,,c " → {"a", "b", "c"}: comma-separated items (or `sep`-separated: the labels of a
/// host name), spaces trimmed, empty items skipped.
inline std::vector<std::string> split_list(std::string_view text, char sep = ',') {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto comma = text.find(sep, pos);
    if (comma == std::string_view::npos) {
      comma = text.size();
    }
    std::string_view item = trim(text.substr(pos, comma - pos));
    if (!item.empty()) {
      out.emplace_back(item);
    }
    pos = comma + 1;
  }
  return out;
}

/// Length of the UTF-8 sequence starting at s[i], or 0 if it is not a valid one.
inline std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  const std::size_t n = b < 0xC2 ? 0 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : b < 0xF5 ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
      return 0;
    }
  }
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if ((b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 >= 0xA0) || (b == 0xF0 && b1 < 0x90) ||
      (b == 0xF4 && b1 >= 0x90)) {
    return 0;  // overlong, a surrogate, or beyond U+10FFFF
  }
  return n;
}

/// `s` as valid UTF-8 without NUL: what a text column of a database takes. Bytes that are not
/// UTF-8 become U+FFFD; NUL bytes are dropped.
inline std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto ch = static_cast<unsigned char>(s[i]);
    if (ch < 0x80) {
      if (ch != 0) {
        out += static_cast<char>(ch);
      }
      ++i;
      continue;
    }
    const std::size_t n = utf8_length(s, i);
    out += n == 0 ? std::string_view("\xEF\xBF\xBD") : s.substr(i, n);
    i += n == 0 ? 1 : n;
  }
  return out;
}

/// {"a", "b"} → "a,b": the inverse of split_list for items without commas.
/// `text` with the value of every `name=` (a URL's query parameter) replaced by "…": for logs
/// of messages that carry a link with a capability in it (an OAuth consent ticket).
inline std::string without_param(std::string_view text, std::string_view name) {
  std::string out;
  const std::string key = std::string(name) + "=";
  for (std::size_t at = text.find(key); at != std::string_view::npos; at = text.find(key)) {
    out.append(text.substr(0, at + key.size())).append("…");
    text.remove_prefix(at + key.size());
    const auto end = text.find_first_of("&# \"'<>\n");
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
  }
  return out.append(text);
}

inline std::string join_list(const std::vector<std::string>& items, char sep = ',') {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += sep;
    }
    out += item;
  }
  return out;
}

}  // namespace mcpgw
