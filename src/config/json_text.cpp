// Config JSON: one pass that finds syntax errors and duplicate keys with where they are, then
// the parse that builds the document.
#include "config/json_text.hpp"

#include "config/reader.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <vector>

namespace mcpgw::config {

namespace {

namespace json = boost::json;
using boost::system::error_code;

/// A basic_parser handler that builds nothing: it follows the path through the document and
/// stops at the first key an object already has.
class DuplicateKeys {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  /// The path of the key given twice; empty while none was.
  const std::string& duplicate() const noexcept { return duplicate_; }

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code&) { return open(true); }
  bool on_object_end(std::size_t, error_code&) { return close(); }
  bool on_array_begin(error_code&) { return open(false); }
  bool on_array_end(std::size_t, error_code&) { return close(); }
  bool on_key_part(std::string_view s, std::size_t, error_code&) {
    key_.append(s);
    return true;
  }
  bool on_key(std::string_view s, std::size_t, error_code& ec) {
    key_.append(s);
    Frame& f = frames_.back();
    if (!f.keys.insert(key_).second) {
      duplicate_ = path_to(key_);
      ec = make_error_code(boost::system::errc::invalid_argument);
      return false;
    }
    f.current = key_;
    key_.clear();
    return true;
  }
  bool on_string_part(std::string_view, std::size_t, error_code&) { return true; }
  bool on_string(std::string_view, std::size_t, error_code&) { return value(); }
  bool on_number_part(std::string_view, error_code&) { return true; }
  bool on_int64(std::int64_t, std::string_view, error_code&) { return value(); }
  bool on_uint64(std::uint64_t, std::string_view, error_code&) { return value(); }
  bool on_double(double, std::string_view, error_code&) { return value(); }
  bool on_bool(bool, error_code&) { return value(); }
  bool on_null(error_code&) { return value(); }
  bool on_comment_part(std::string_view, error_code&) { return true; }
  bool on_comment(std::string_view, error_code&) { return true; }

 private:
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string current;     ///< the member being read (objects)
    std::size_t index = 0;   ///< the element being read (arrays)
  };

  bool open(bool object) {
    frames_.push_back(Frame{object, {}, {}, 0});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return value();
  }
  /// A value ended: an array moves on to its next element.
  bool value() {
    if (!frames_.empty() && !frames_.back().object) {
      ++frames_.back().index;
    }
    return true;
  }
  std::string path_to(const std::string& key) const {
    std::string path;
    for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      path = f.object ? join_path(path, f.current) : fmt::format("{}[{}]", path, f.index);
    }
    return join_path(path, key);
  }

  std::vector<Frame> frames_;
  std::string key_;
  std::string duplicate_;
};

json::parse_options config_options() {
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  return opts;
}

/// Writes `v` at nesting `depth` (its first line already indented by the caller).
void write_pretty(const json::value& v, std::size_t depth, std::string& out) {
  const std::string pad((depth + 1) * 2, ' ');
  const std::string close(depth * 2, ' ');
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& kv : v.get_object()) {
      out += first ? "" : ",\n";
      first = false;
      out += pad + json::serialize(json::value(kv.key())) + ": ";
      write_pretty(kv.value(), depth + 1, out);
    }
    out += "\n" + close + "}";
    return;
  }
  if (v.is_array() && !v.get_array().empty()) {
    const auto& a = v.get_array();
    const bool plain = std::none_of(a.begin(), a.end(), [](const json::value& x) {
      return x.is_structured();
    });
    if (plain) {
      std::string one = "[";
      for (std::size_t i = 0; i < a.size(); ++i) {
        one += (i == 0 ? "" : ", ") + json::serialize(a[i]);
      }
      one += "]";
      if (one.size() + pad.size() <= 80) {
        out += one;  // ["-y", "server"]: a command's arguments read best on one line
        return;
      }
    }
    out += "[\n";
    for (std::size_t i = 0; i < a.size(); ++i) {
      out += (i == 0 ? "" : ",\n") + pad;
      write_pretty(a[i], depth + 1, out);
    }
    out += "\n" + close + "]";
    return;
  }
  out += json::serialize(v);
}

}  // namespace

std::string pretty_json(const json::value& v) {
  std::string out;
  write_pretty(v, 0, out);
  return out;
}

std::string line_and_column(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const auto line = 1 + std::count(before.begin(), before.end(), '\n');
  const auto last = before.rfind('\n');
  const auto column = 1 + (last == std::string_view::npos ? offset : offset - last - 1);
  return fmt::format("line {}, column {}", line, column);
}

std::optional<json::value> parse_json_text(std::string_view text, const std::string& file,
                                           Diagnostics& diag) {
  json::basic_parser<DuplicateKeys> check(config_options());
  error_code ec;
  const std::size_t n = check.write_some(false, text.data(), text.size(), ec);
  if (!check.handler().duplicate().empty()) {
    // The parser stopped on the closing quote of the key given twice: point at its opening one.
    const std::size_t open = n > 0 ? text.rfind('"', n - 1) : std::string_view::npos;
    diag.error(check.handler().duplicate(),
               fmt::format("given twice in {} ({}); the second would replace the first", file,
                           line_and_column(text, open == std::string_view::npos ? n : open)));
    return std::nullopt;
  }
  if (ec) {
    diag.error(file, fmt::format("not valid JSON at {}: {}", line_and_column(text, n),
                                 ec.message()));
    return std::nullopt;
  }
  json::value doc = json::parse(text, ec, json::storage_ptr(), config_options());
  if (ec) {  // the check above read the same text with the same options: not expected
    diag.error(file, fmt::format("not valid JSON: {}", ec.message()));
    return std::nullopt;
  }
  return doc;
}

}  // namespace mcpgw::config
