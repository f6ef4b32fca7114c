#pragma once
// The text an MCP message carries, found by one walker for every filter that reads or rewrites
// it (fence, inspect): each string of a result, an error or a request's arguments, with the
// kind of field it sits in. A blob whose bytes are text is decoded (and encoded again when a
// filter changes it); image and audio data and binary blobs are counted, not read.
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace mcpgw::gate {

namespace json = boost::json;

enum class FieldKind : std::uint8_t {
  prose,       ///< text for a reader: text blocks, resource text, titles, descriptions, error
               ///< messages, prompt messages, `_meta` strings, anything not known to be a label
  structured,  ///< a string inside structuredContent
  blob,        ///< a blob whose bytes are text (decoded)
  label,       ///< what programs read: type, mimeType, uri, name, role, ids, log levels,
               ///< annotations, `_meta` under the io.modelcontextprotocol/ prefix, completion
               ///< values, a form's schema, a sampling request's settings
};

/// Writes `text` into `s` (encoded again for a blob, whose decoded copy is `decoded`).
void set_text(json::string& s, FieldKind kind, std::string& decoded, std::string_view text);

/// One string the walker found. `Str` is `json::string` for a walk that may change the text,
/// `const json::string` for one that only reads it.
template <class Str>
class BasicTextField {
 public:
  BasicTextField(Str* s, FieldKind kind, std::string decoded = {})
      : str_(s), kind_(kind), decoded_(std::move(decoded)) {}
  FieldKind kind() const noexcept { return kind_; }
  /// The text (a blob's decoded bytes).
  std::string_view text() const noexcept {
    return kind_ == FieldKind::blob ? std::string_view(decoded_)
                                    : std::string_view(str_->data(), str_->size());
  }
  /// Replaces the text; a blob is encoded again.
  void set(std::string_view text)
    requires(!std::is_const_v<Str>)
  {
    set_text(*str_, kind_, decoded_, text);
  }

 private:
  Str* str_;
  FieldKind kind_;
  std::string decoded_;
};

template <class Str>
struct BasicTextFields {
  std::vector<BasicTextField<Str>> fields;
  std::size_t binary = 0;  ///< image or audio items, and blobs whose bytes are not text
};

using TextField = BasicTextField<json::string>;
using TextFields = BasicTextFields<json::string>;
using TextView = BasicTextField<const json::string>;
using TextViews = BasicTextFields<const json::string>;

/// Every string under `root`: a result, an error object, or a call's arguments. Numbers kept
/// as text are not text. The fields point into `root`, which must outlive them.
TextFields text_fields(json::value& root);
/// The same walk, for a reader: nothing is copied but a text blob's decoded bytes.
TextViews text_fields(const json::value& root);

/// True when `bytes` read as text: valid UTF-8 with no control characters but tab and newlines.
bool is_text(std::string_view bytes);

}  // namespace mcpgw::gate
