#include "jsonrpc/exact_json.hpp"

#include "common/error.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_stack.hpp>


namespace mcpgw::jsonrpc {

namespace json = boost::json;

namespace {

// The marks, as stored (raw bytes) and as Boost.JSON escapes them when serializing.
constexpr std::string_view kRawNumber{"\0\1n:", 4};
constexpr std::string_view kMarkedString{"\0\1s:", 4};
constexpr std::string_view kEscapedMark = "\\u0000\\u0001";

/// A JSON number, exactly (RFC 8259 §6): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_number_text(std::string_view t) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t from = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      ++i;
    }
    return i > from;
  };
  if (i < t.size() && t[i] == '-') {
    ++i;
  }
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) {
      return false;
    }
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
      ++i;
    }
    if (!digits()) {
      return false;
    }
  }
  return i == t.size();
}

/// Builds the value like Boost's own parser does, with exact numbers and marked strings.
struct ExactHandler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;
  std::string number;  ///< parts of a number split across buffers

  ExactHandler(json::storage_ptr sp, unsigned char* temp, std::size_t size)
      : st(std::move(sp), temp, size) {}

  /// A string's first piece: mark it if it starts with NUL (it could look like a mark).
  void first_piece(std::string_view s, std::size_t n) {
    if (n == s.size() && !s.empty() && s.front() == '\0') {
      st.push_chars(kMarkedString);
    }
  }

  /// Every number that is not a plain integer keeps its text: a double would change some
  /// (1e400, -0, 0.1000000000000000055511151231257827) and respell others (2.5 as 2.5E0).
  void push_number(std::string_view text) {
    st.push_chars(kRawNumber);
    st.push_string(text);
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t n, json::error_code&) {
    first_piece(s, n);
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t n, json::error_code&) {
    first_piece(s, n);
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t n, json::error_code&) {
    first_piece(s, n);
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t n, json::error_code&) {
    first_piece(s, n);
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view s, json::error_code&) {
    if (i == 0 && number.empty() && !s.empty() && s.front() == '-') {
      push_number(s);  // -0: an int64 has no negative zero
    } else {
      st.push_int64(i);
    }
    number.clear();
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    st.push_uint64(u);
    number.clear();
    return true;
  }
  bool on_double(double, json::string_view s, json::error_code&) {
    if (number.empty()) {
      push_number(s);
    } else {
      number.append(s.data(), s.size());
      push_number(number);
      number.clear();
    }
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

/// Number of backslashes right before `pos`: odd means the character at `pos` is escaped.
bool escaped(std::string_view s, std::size_t pos) {
  std::size_t n = 0;
  while (pos > n && s[pos - n - 1] == '\\') {
    ++n;
  }
  return n % 2 == 1;
}

/// Rewrites Boost's output: `"\u0000\u0001n:TEXT"` → TEXT, `"\u0000\u0001s:` → `"`.
std::string restore_marks(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t from = 0;
  for (std::size_t at = in.find(kEscapedMark); at != std::string_view::npos;
       at = in.find(kEscapedMark, at + 1)) {
    const std::size_t quote = at - 1;
    const std::size_t tag = at + kEscapedMark.size();
    if (at == 0 || in[quote] != '"' || escaped(in, quote) || tag + 2 > in.size() ||
        in[tag + 1] != ':' || (in[tag] != 'n' && in[tag] != 's')) {
      continue;  // NUL, SOH inside a string, not a mark
    }
    out.append(in.substr(from, quote - from));
    if (in[tag] == 'n') {
      const std::size_t close = in.find('"', tag + 2);
      if (close == std::string_view::npos) {
        break;
      }
      const std::string_view text = in.substr(tag + 2, close - (tag + 2));
      if (!is_number_text(text)) {
        // Something edited the marked string (a redaction): it is a string now.
        out.push_back('"');
        from = tag + 2;
        at = from - 1;
        continue;
      }
      out.append(text);
      from = close + 1;
    } else {
      out.push_back('"');
      from = tag + 2;
    }
    at = from - 1;
  }
  out.append(in.substr(from));
  return out;
}

}  // namespace

boost::system::result<json::value> parse_exact(std::string_view text, std::size_t max_depth) {
  json::parse_options opts;
  opts.max_depth = max_depth;
  unsigned char temp[BOOST_JSON_STACK_BUFFER_SIZE];  // as Boost's own parse(): no heap until it fills
  json::basic_parser<ExactHandler> p(opts, json::storage_ptr(), temp, sizeof temp);
  p.handler().st.reset();
  boost::system::error_code ec;
  const std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (!ec && n < text.size()) {
    ec = json::error::extra_data;
  }
  if (ec) {
    return make_error_code(Errc::parse_error);
  }
  return p.handler().st.release();
}

namespace {
std::string finish(std::string out) {
  if (out.find(kEscapedMark) == std::string::npos) {
    return out;
  }
  return restore_marks(out);
}
}  // namespace

std::string serialize_exact(const json::value& v) { return finish(json::serialize(v)); }
std::string serialize_exact(const json::object& o) { return finish(json::serialize(o)); }
std::string serialize_exact(const json::array& a) { return finish(json::serialize(a)); }

bool is_raw_number(const json::value& v) noexcept {
  return v.is_string() && v.get_string().subview(0, kRawNumber.size()) == kRawNumber;
}

}  // namespace mcpgw::jsonrpc
