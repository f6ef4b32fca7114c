#include "jsonrpc/message.hpp"

#include "common/error.hpp"
#include "jsonrpc/exact_json.hpp"

#include <charconv>

namespace mcpgw::jsonrpc {

boost::system::result<json::value> parse(std::string_view text, std::size_t max_depth) {
  return parse_exact(text, max_depth);
}

bool valid_id(const json::value& id) noexcept {
  // An id is a string or an integer (MCP): a number kept as text (1.5, 1e400, -0) is neither.
  return (id.is_string() && !is_raw_number(id)) || id.is_int64() || id.is_uint64();
}

std::string id_key(const json::value& id) {
  if (id.is_string()) {
    std::string key = "s:";
    key.append(id.get_string().data(), id.get_string().size());
    return key;
  }
  if (id.is_int64()) {
    return "i:" + std::to_string(id.get_int64());
  }
  if (id.is_uint64()) {
    return "i:" + std::to_string(id.get_uint64());
  }
  return "?:" + json::serialize(id);
}

Kind classify(const json::object& msg, std::string_view* why) {
  auto fail = [why](std::string_view reason) {
    if (why != nullptr) {
      *why = reason;
    }
    return Kind::invalid;
  };
  const json::value* version = msg.if_contains("jsonrpc");
  if (version == nullptr || !version->is_string() || version->get_string() != "2.0") {
    return fail("\"jsonrpc\" must be \"2.0\"");
  }
  const json::value* id = msg.if_contains("id");
  const json::value* m = msg.if_contains("method");
  if (m != nullptr) {
    if (!m->is_string()) {
      return fail("\"method\" must be a string");
    }
    if (const json::value* params = msg.if_contains("params");
        params != nullptr && !params->is_object() && !params->is_array()) {
      return fail("\"params\" must be an object");
    }
    if (id == nullptr) {
      return Kind::notification;
    }
    if (!valid_id(*id)) {
      return fail("\"id\" must be a string or an integer");
    }
    return Kind::request;
  }
  const bool has_result = msg.contains("result");
  const bool has_error = msg.contains("error");
  if (id == nullptr) {
    return fail("a message needs \"method\" or \"id\"");
  }
  if (has_result == has_error) {
    return fail("a response needs exactly one of \"result\" and \"error\"");
  }
  if (!valid_id(*id) && !(has_error && id->is_null())) {
    return fail("\"id\" must be a string or an integer");
  }
  return Kind::response;
}

Kind classify(const json::value& msg, std::string_view* why) {
  if (!msg.is_object()) {
    if (why != nullptr) {
      *why = "a message must be a JSON object";
    }
    return Kind::invalid;
  }
  return classify(msg.get_object(), why);
}

std::string_view method(const json::object& msg) noexcept {
  if (const json::value* m = msg.if_contains("method"); m != nullptr && m->is_string()) {
    return m->get_string();
  }
  return {};
}

json::object make_request(json::value id, std::string_view method, json::object params) {
  json::object o;
  o.reserve(4);
  o["jsonrpc"] = "2.0";
  o["id"] = std::move(id);
  o["method"] = method;
  o["params"] = std::move(params);
  return o;
}

json::object make_notification(std::string_view method, json::object params) {
  json::object o;
  o.reserve(3);
  o["jsonrpc"] = "2.0";
  o["method"] = method;
  o["params"] = std::move(params);
  return o;
}

json::object make_result(json::value id, json::value result) {
  json::object o;
  o.reserve(3);
  o["jsonrpc"] = "2.0";
  o["id"] = std::move(id);
  o["result"] = std::move(result);
  return o;
}

json::object make_error(json::value id, int code, std::string_view message, json::value data) {
  json::object err;
  err["code"] = code;
  err["message"] = message;
  if (!data.is_null()) {
    err["data"] = std::move(data);
  }
  json::object o;
  o.reserve(3);
  o["jsonrpc"] = "2.0";
  o["id"] = std::move(id);
  o["error"] = std::move(err);
  return o;
}

std::string serialize(const json::value& v) { return serialize_exact(v); }
std::string serialize(const json::object& v) { return serialize_exact(v); }
std::string serialize(const json::array& v) { return serialize_exact(v); }

std::optional<std::int64_t> scan_id(std::string_view text) noexcept {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == '"') {
      if (depth == 1 && text.substr(i, 4) == "\"id\"") {
        std::size_t j = i + 4;
        while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) {
          ++j;
        }
        if (j < text.size() && text[j] == ':') {
          ++j;
          while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) {
            ++j;
          }
          std::int64_t v = 0;
          const auto* first = text.data() + j;
          const auto [end, ec] = std::from_chars(first, text.data() + text.size(), v);
          if (ec == std::errc() && end != first) {
            return v;
          }
        }
      }
      in_string = true;
    }
  }
  return std::nullopt;
}

const json::value* progress_token(const json::object& msg) noexcept {
  const json::value* params = msg.if_contains("params");
  if (params == nullptr || !params->is_object()) {
    return nullptr;
  }
  const json::value* meta = params->get_object().if_contains("_meta");
  if (meta == nullptr || !meta->is_object()) {
    return nullptr;
  }
  return meta->get_object().if_contains("progressToken");
}

}  // namespace mcpgw::jsonrpc
