// Reading YAML nodes for the LiteLLM conversion: mappings in file order with duplicate keys
// refused, values as JSON, and one server's settings with LiteLLM's os.environ/NAME values.
#include "config/litellm_yaml.hpp"
#include "config/reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

namespace mcpgw::config::litellm {

namespace {

constexpr std::string_view kEnvPrefix = "os.environ/";

/// An unquoted scalar that YAML 1.2's core schema reads as a number, as JSON; null if not one.
json::value number(const std::string& s) {
  const bool numeric = !s.empty() && s.find_first_not_of("0123456789+-.eE") == std::string::npos &&
                       std::any_of(s.begin(), s.end(), [](char c) { return std::isdigit(
                           static_cast<unsigned char>(c)) != 0; });
  if (!numeric) {
    return nullptr;
  }
  const char* begin = s.data() + (s.front() == '+' ? 1 : 0);
  const char* end = s.data() + s.size();
  std::int64_t i = 0;
  if (auto r = std::from_chars(begin, end, i); r.ec == std::errc() && r.ptr == end) {
    return i;
  }
  char* stop = nullptr;
  const double d = std::strtod(s.c_str(), &stop);
  if (stop == s.c_str() + s.size()) {
    return d;
  }
  return nullptr;
}

json::value scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() != "?") {  // quoted ("!") or explicitly tagged: the text as it is
    return json::string(s);
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  if (json::value n = number(s); !n.is_null()) {
    return n;
  }
  return json::string(s);
}

}  // namespace

std::string at(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) {
    return {};
  }
  return fmt::format(" (line {})", mark.line + 1);
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return "a value";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::optional<Entries> entries(const YAML::Node& node, const std::string& path,
                               Diagnostics& diag) {
  if (!node.IsMap()) {
    diag.error(path, fmt::format("expected a mapping, got {}{}", describe(node), at(node)));
    return std::nullopt;
  }
  Entries out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      diag.error(path, fmt::format("a key must be a plain value, got {}{}", describe(it->first),
                                   at(it->first)));
      continue;
    }
    const std::string& key = it->first.Scalar();
    if (key == "<<") {
      diag.error(join_path(path, key), fmt::format("YAML merge keys are not supported; write "
                                                   "the settings out{}", at(it->first)));
      continue;
    }
    const auto same = std::find_if(out.begin(), out.end(), [&](const auto& e) {
      return e.first == key;
    });
    if (same != out.end()) {
      // The JSON config refuses a key given twice; so does its YAML form.
      diag.error(join_path(path, key),
                 fmt::format("given twice (line {} and line {}); the second would replace the "
                             "first", same->second.Mark().line + 1, it->second.Mark().line + 1));
      continue;
    }
    out.emplace_back(key, it->second);
  }
  return out;
}

json::value to_json(const YAML::Node& node, const std::string& path, Diagnostics& diag) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      json::array out;
      std::size_t i = 0;
      for (const auto& item : node) {
        out.push_back(to_json(item, fmt::format("{}[{}]", path, i++), diag));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json::object out;
      for (const auto& [key, value] : entries(node, path, diag).value_or(Entries{})) {
        out[key] = to_json(value, join_path(path, key), diag);
      }
      return out;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return nullptr;
}

std::string env_name(std::string_view value) {
  if (value.size() > 3 && value.substr(0, 2) == "${" && value.back() == '}' &&
      value.find_first_of("}:", 2) == value.size() - 1) {
    return std::string(value.substr(2, value.size() - 3));
  }
  return {};
}

const YAML::Node* Settings::get(std::string_view key) {
  for (const auto& [k, v] : entries_) {
    if (k == key) {
      read_.insert(k);
      return &v;
    }
  }
  return nullptr;
}

bool Settings::has(std::string_view key) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const auto& e) {
    return e.first == key;
  });
}

std::string Settings::path(std::string_view key) const { return join_path(path_, key); }

std::string Settings::where(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k == key) {
      return path(key) + at(v);
    }
  }
  return path(key);
}

std::string Settings::value(const YAML::Node& node, const std::string& path) {
  const std::string& text = node.Scalar();
  if (text.rfind(kEnvPrefix, 0) == 0) {
    // LiteLLM reads any value "os.environ/NAME" from the environment: mcpgw's ${NAME}.
    const std::string name = text.substr(kEnvPrefix.size());
    const bool ok = !name.empty() && std::isdigit(static_cast<unsigned char>(name[0])) == 0 &&
                    std::all_of(name.begin(), name.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
                    });
    if (!ok) {
      m_.diag.error(path, fmt::format("\"{}\" does not name an environment variable{}", text,
                                      at(node)));
      return {};
    }
    m_.out.env_vars.insert(name);
    return fmt::format("${{{}}}", name);
  }
  if (text.find("${") != std::string::npos) {
    m_.diag.warn(path, fmt::format("mcpgw expands ${{NAME}} in this value, LiteLLM did not{}",
                                   at(node)));
  }
  return text;
}

const YAML::Node* Settings::typed(std::string_view key, YAML::NodeType::value type,
                                  std::string_view what) {
  const YAML::Node* v = get(key);
  if (v == nullptr || v->IsNull()) {
    return nullptr;
  }
  if (v->Type() != type) {
    m_.diag.error(path(key), fmt::format("expected {}, got {}{}", what, describe(*v), at(*v)));
    return nullptr;
  }
  return v;
}

std::optional<std::string> Settings::str(std::string_view key) {
  const YAML::Node* v = typed(key, YAML::NodeType::Scalar, "a value");
  if (v == nullptr) {
    return std::nullopt;
  }
  return value(*v, path(key));
}

std::optional<std::vector<std::string>> Settings::strings(std::string_view key) {
  const YAML::Node* v = typed(key, YAML::NodeType::Sequence, "a list");
  if (v == nullptr) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  std::size_t i = 0;
  for (const auto& item : *v) {
    const std::string ipath = fmt::format("{}[{}]", path(key), i++);
    if (item.IsScalar()) {
      out.push_back(value(item, ipath));
    } else {
      m_.diag.error(ipath, fmt::format("expected a value, got {}{}", describe(item), at(item)));
    }
  }
  return out;
}

std::optional<Entries> Settings::pairs(std::string_view key) {
  const YAML::Node* v = typed(key, YAML::NodeType::Map, "a mapping");
  if (v == nullptr) {
    return std::nullopt;
  }
  auto out = entries(*v, path(key), m_.diag);
  if (!out) {
    return std::nullopt;
  }
  for (const auto& [k, item] : *out) {
    if (!item.IsScalar()) {
      m_.diag.error(join_path(path(key), k),
                    fmt::format("expected a value, got {}{}", describe(item), at(item)));
    }
  }
  return out;
}

std::vector<std::string> Settings::unread() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries_) {
    if (read_.count(k) == 0) {
      out.push_back(k);
    }
  }
  return out;
}

}  // namespace mcpgw::config::litellm
