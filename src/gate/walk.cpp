#include "gate/walk.hpp"

#include "common/base64.hpp"
#include "jsonrpc/exact_json.hpp"

#include <algorithm>

namespace mcpgw::gate {

namespace {

/// Keys whose string values programs read (outside structuredContent, where every key is data).
/// Grouped by length: a key is compared with the few of its own length only.
constexpr std::string_view kLabelKeys[] = {
    "id",                                                  // 2
    "uri", "url",                                          // 3
    "type", "name", "role", "mode",                        // 4
    "level",                                               // 5
    "taskId", "status", "cursor", "logger", "method",      // 6
    "mimeType",                                            // 8
    "nextCursor", "resultType",                            // 10
    "lastModified", "requestState",                        // 12
    "progressToken", "elicitationId"};                     // 13
/// Keys whose whole value is for programs (a form's schema, a sampling request's settings).
constexpr std::string_view kLabelTrees[] = {
    "tools",                                               // 5
    "metadata",                                            // 8
    "completion", "toolChoice",                            // 10
    "annotations",                                         // 11
    "stopSequences",                                       // 13
    "includeContext",                                      // 14
    "requestedSchema",                                     // 15
    "modelPreferences"};                                   // 16
constexpr std::string_view kReservedMeta = "io.modelcontextprotocol/";

template <std::size_t N>
constexpr bool by_length(const std::string_view (&keys)[N]) {
  for (std::size_t i = 1; i < N; ++i) {
    if (keys[i - 1].size() > keys[i].size()) {
      return false;
    }
  }
  return true;
}
static_assert(by_length(kLabelKeys) && by_length(kLabelTrees));

/// Whether `key` is one of `keys` (sorted by length).
template <std::size_t N>
bool one_of(std::string_view key, const std::string_view (&keys)[N]) {
  for (const auto k : keys) {
    if (k.size() > key.size()) {
      return false;
    }
    if (k.size() == key.size() && k == key) {
      return true;
    }
  }
  return false;
}

/// `Str` is `json::string` or `const json::string`, and the values walked have the same
/// constness.
template <class Str>
class Walker {
  using Value = std::conditional_t<std::is_const_v<Str>, const json::value, json::value>;
  using Object = std::conditional_t<std::is_const_v<Str>, const json::object, json::object>;

 public:
  explicit Walker(BasicTextFields<Str>& out) : out_(out) {}

  void value(Value& v, FieldKind kind) {
    if (v.is_string()) {
      if (!jsonrpc::is_raw_number(v)) out_.fields.emplace_back(&v.get_string(), kind);
    } else if (v.is_array()) {
      for (auto& item : v.get_array()) value(item, kind);
    } else if (v.is_object()) {
      object(v.get_object(), kind);
    }
  }

 private:
  void object(Object& o, FieldKind kind) {
    const auto* type = o.if_contains("type");
    const bool media = type != nullptr && type->is_string() &&
                       (type->get_string() == "image" || type->get_string() == "audio");
    for (auto& kv : o) {
      const std::string_view key = kv.key();
      auto& v = kv.value();
      if (kind == FieldKind::structured || kind == FieldKind::label) {
        value(v, kind);
      } else if (key == "structuredContent") {
        value(v, FieldKind::structured);
      } else if (key == "_meta" && v.is_object()) {
        meta(v.get_object());
      } else if (key == "blob" && v.is_string()) {
        blob(v.get_string());
      } else if (key == "data" && media) {
        ++out_.binary;
      } else if (one_of(key, kLabelTrees) || (v.is_string() && one_of(key, kLabelKeys))) {
        value(v, FieldKind::label);
      } else {
        value(v, kind);
      }
    }
  }

  void meta(Object& o) {
    for (auto& kv : o) {
      const bool reserved = std::string_view(kv.key()).starts_with(kReservedMeta) ||
                            kv.key() == "progressToken";
      value(kv.value(), reserved ? FieldKind::label : FieldKind::prose);
    }
  }

  void blob(Str& s) {
    auto bytes = base64_decode(std::string_view(s.data(), s.size()));
    if (bytes && is_text(*bytes)) {
      out_.fields.emplace_back(&s, FieldKind::blob, std::move(*bytes));
    } else {
      ++out_.binary;
    }
  }

  BasicTextFields<Str>& out_;
};

}  // namespace

void set_text(json::string& s, FieldKind kind, std::string& decoded, std::string_view text) {
  if (kind == FieldKind::blob) {
    decoded = std::string(text);
    s = base64_encode(text);
  } else {
    s = text;
  }
}

TextFields text_fields(json::value& root) {
  TextFields out;
  out.fields.reserve(4);  // most messages hold a few strings: one allocation
  Walker<json::string>(out).value(root, FieldKind::prose);
  return out;
}

TextViews text_fields(const json::value& root) {
  TextViews out;
  Walker<const json::string>(out).value(root, FieldKind::prose);
  return out;
}

bool is_text(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (b < 0x80) {
      if ((b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7F) return false;
      ++i;
      continue;
    }
    const std::size_t n = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || b == 0xC0 || b == 0xC1 || b > 0xF4 || i + n > bytes.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(bytes[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace mcpgw::gate
