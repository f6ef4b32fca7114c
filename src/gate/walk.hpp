#pragma once
// The text an MCP message carries, found by one walker for every filter that reads or rewrites
// it (fence, inspect): each string of a result, an error or a request's arguments, with the
// kind of field it sits in. A blob whose bytes are text is decoded (and encoded again when a
// filter changes it); image and audio data and binary blobs are counted, not read.
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
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

class TextField {
 public:
  TextField(json::string* s, FieldKind kind, std::string decoded = {})
      : str_(s), kind_(kind), decoded_(std::move(decoded)) {}
  FieldKind kind() const noexcept { return kind_; }
  /// The text (a blob's decoded bytes).
  std::string_view text() const noexcept {
    return kind_ == FieldKind::blob ? std::string_view(decoded_)
                                    : std::string_view(str_->data(), str_->size());
  }
  /// Replaces the text; a blob is encoded again.
  void set(std::string_view text);

 private:
  json::string* str_;
  FieldKind kind_;
  std::string decoded_;
};

struct TextFields {
  std::vector<TextField> fields;
  std::size_t binary = 0;  ///< image or audio items, and blobs whose bytes are not text
};

/// Every string under `root`: a result, an error object, or a call's arguments. Numbers kept
/// as text are not text. The fields point into `root`, which must outlive them.
TextFields text_fields(json::value& root);

/// True when `bytes` read as text: valid UTF-8 with no control characters but tab and newlines.
bool is_text(std::string_view bytes);

}  // namespace mcpgw::gate
