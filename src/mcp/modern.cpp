#include "mcp/modern.hpp"

#include "common/error.hpp"
#include "common/text.hpp"
#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>

namespace mcpgw::mcp {

namespace {

constexpr std::string_view kSentinelOpen = "=?base64?";
constexpr std::string_view kSentinelClose = "?=";

const json::object* params_of(const json::object& msg) noexcept {
  const auto* p = msg.if_contains("params");
  return p != nullptr && p->is_object() ? &p->get_object() : nullptr;
}

std::string_view string_in(const json::object* o, std::string_view key) noexcept {
  if (o == nullptr) {
    return {};
  }
  const auto* v = o->if_contains(key);
  return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

/// The body value Mcp-Name must mirror, or null when the method has none.
const char* name_field(std::string_view method) noexcept {
  if (method == method::kToolsCall || method == method::kPromptsGet) {
    return "name";
  }
  if (method == method::kResourcesRead) {
    return "uri";
  }
  return nullptr;
}

bool is_cacheable(std::string_view method) noexcept {
  return method == method::kToolsList || method == method::kPromptsList ||
         method == method::kResourcesList || method == method::kResourceTemplatesList ||
         method == method::kResourcesRead;
}

}  // namespace

const json::object* request_meta(const json::object& msg) noexcept {
  const auto* params = params_of(msg);
  if (params == nullptr) {
    return nullptr;
  }
  const auto* m = params->if_contains("_meta");
  return m != nullptr && m->is_object() ? &m->get_object() : nullptr;
}

std::string_view meta_version(const json::object& msg) noexcept {
  return string_in(request_meta(msg), meta::kProtocolVersion);
}

std::optional<std::string> decode_header_value(std::string_view value) {
  if (value.size() < kSentinelOpen.size() + kSentinelClose.size() ||
      !value.starts_with(kSentinelOpen) || !value.ends_with(kSentinelClose)) {
    return std::string(value);
  }
  const auto b64 = value.substr(kSentinelOpen.size(),
                                value.size() - kSentinelOpen.size() - kSentinelClose.size());
  if (b64.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out(b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0) {
    return std::nullopt;
  }
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t len = static_cast<std::size_t>(n);
  for (std::size_t i = b64.size(); i > 0 && b64[i - 1] == '=' && len > 0; --i) {
    --len;
  }
  out.resize(len);
  return out;
}

std::string check_mirrored(const json::object& msg, const MirroredHeaders& h) {
  const auto body_version = meta_version(msg);
  if (h.version.empty()) {
    return "the MCP-Protocol-Version header is missing";
  }
  if (h.version != body_version) {
    return fmt::format("the MCP-Protocol-Version header says \"{}\" but _meta says \"{}\"",
                       h.version, body_version);
  }
  if (!msg.contains("id")) {
    return {};  // notifications carry no Mcp-Method
  }
  const std::string_view method = jsonrpc::method(msg);
  if (h.method != method) {
    return h.method.empty()
               ? std::string("the Mcp-Method header is missing")
               : fmt::format("the Mcp-Method header names \"{}\" but the body's method is \"{}\"",
                             h.method, method);
  }
  const char* field = name_field(method);
  if (field == nullptr) {
    return {};
  }
  const auto body_name = string_in(params_of(msg), field);
  // Most names travel as they are; only a Base64-wrapped one needs decoding.
  const bool same = h.name.starts_with(kSentinelOpen) ? decode_header_value(h.name) == body_name
                                                      : h.name == body_name;
  if (h.name.empty() || !same) {
    return h.name.empty() ? std::string("the Mcp-Name header is missing")
                          : fmt::format("the Mcp-Name header does not match params.{} (\"{}\")",
                                        field, body_name);
  }
  return {};
}

namespace {

/// A primitive argument as its header carries it; nullopt for what no header carries.
std::optional<std::string> header_text(const json::value& v) {
  if (v.is_string()) {
    return std::string(v.get_string());
  }
  if (v.is_bool()) {
    return std::string(v.get_bool() ? "true" : "false");
  }
  if (v.is_number()) {
    return json::serialize(v);
  }
  return std::nullopt;
}

/// The `properties` of a tool's inputSchema, when it has them.
const json::object* schema_properties(const json::object& tool) {
  const auto* schema = tool.if_contains("inputSchema");
  const auto* props = schema != nullptr && schema->is_object()
                          ? schema->get_object().if_contains("properties")
                          : nullptr;
  return props != nullptr && props->is_object() ? &props->get_object() : nullptr;
}

const std::string* find_header(const std::vector<std::pair<std::string, std::string>>& headers,
                               std::string_view lowercase_suffix) {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_suffix) {
      return &value;
    }
  }
  return nullptr;
}

}  // namespace

std::string check_param_headers(const json::object& tool, const json::object& call_params,
                                const std::vector<std::pair<std::string, std::string>>& headers) {
  const json::object* props = schema_properties(tool);
  if (props == nullptr) {
    return {};
  }
  const auto* a = call_params.if_contains("arguments");
  const json::object* args = a != nullptr && a->is_object() ? &a->get_object() : nullptr;
  for (const auto& [prop, def] : *props) {
    const auto* h = def.is_object() ? def.get_object().if_contains("x-mcp-header") : nullptr;
    if (h == nullptr || !h->is_string()) {
      continue;
    }
    const std::string* sent = find_header(headers, lower(h->get_string()));
    const json::value* v = args != nullptr ? args->if_contains(prop) : nullptr;
    const auto body = v != nullptr ? header_text(*v) : std::nullopt;
    if (!body) {
      if (sent != nullptr && (v == nullptr || v->is_null())) {
        return fmt::format("the Mcp-Param-{} header is sent but arguments.{} is not",
                           std::string_view(h->get_string()), std::string_view(prop));
      }
      continue;
    }
    if (sent == nullptr) {
      return fmt::format("the Mcp-Param-{} header is missing (arguments.{} is given)",
                         std::string_view(h->get_string()), std::string_view(prop));
    }
    const auto decoded = decode_header_value(*sent);
    if (!decoded || *decoded != *body) {
      return fmt::format("the Mcp-Param-{} header {} arguments.{}",
                         std::string_view(h->get_string()),
                         decoded ? "does not match" : "is not valid Base64, so it cannot match",
                         std::string_view(prop));
    }
  }
  return {};
}

std::string_view missing_meta(const json::object& msg) noexcept {
  const auto* m = request_meta(msg);
  if (m == nullptr || !m->contains(meta::kProtocolVersion)) {
    return meta::kProtocolVersion;
  }
  const auto* caps = m->if_contains(meta::kClientCapabilities);
  if (caps == nullptr || !caps->is_object()) {
    return meta::kClientCapabilities;
  }
  return {};
}

Envelope take_envelope(json::object& msg) {
  Envelope env;
  auto* p = msg.if_contains("params");
  if (p == nullptr || !p->is_object()) {
    return env;
  }
  auto& params = p->get_object();
  auto* m = params.if_contains("_meta");
  if (m == nullptr || !m->is_object()) {
    return env;
  }
  auto& meta_obj = m->get_object();
  if (auto* v = meta_obj.if_contains(meta::kClientInfo); v != nullptr && v->is_object()) {
    env.client_info = std::move(v->get_object());
  }
  if (auto* v = meta_obj.if_contains(meta::kClientCapabilities); v != nullptr && v->is_object()) {
    env.client_capabilities = std::move(v->get_object());
  }
  if (auto* v = meta_obj.if_contains(meta::kLogLevel); v != nullptr && v->is_string()) {
    env.log_level = v->get_string();
  }
  constexpr std::string_view kKeys[] = {meta::kProtocolVersion, meta::kClientInfo,
                                         meta::kClientCapabilities, meta::kLogLevel};
  const auto envelope_only = std::all_of(meta_obj.begin(), meta_obj.end(), [&](const auto& kv) {
    return std::find(std::begin(kKeys), std::end(kKeys), kv.key()) != std::end(kKeys);
  });
  if (envelope_only) {
    params.erase("_meta");  // the usual case: one erase, not one per key
    return env;
  }
  for (auto key : kKeys) {
    meta_obj.erase(key);
  }
  return env;
}

void stamp_result(json::object& reply, std::string_view method) {
  auto* r = reply.if_contains("result");
  if (r == nullptr || !r->is_object()) {
    return;
  }
  auto& result = r->get_object();
  if (!result.contains("resultType")) {
    result["resultType"] = "complete";
  }
  if (is_cacheable(method) && result.at("resultType") == "complete") {
    if (!result.contains("ttlMs")) {
      result["ttlMs"] = 0;
    }
    if (!result.contains("cacheScope")) {
      result["cacheScope"] = "private";
    }
  }
}

int http_status_of(const json::object& reply) noexcept {
  const auto* e = reply.if_contains("error");
  const auto* code = e != nullptr && e->is_object() ? e->get_object().if_contains("code")
                                                    : nullptr;
  if (code == nullptr || !code->is_int64()) {
    return 200;
  }
  const auto c = code->get_int64();
  return c == rpc_code::kHeaderMismatch || c == rpc_code::kMissingCapability ||
                 c == rpc_code::kUnsupportedVersion
             ? 400
             : 200;
}

}  // namespace mcpgw::mcp

namespace mcpgw::mcp {

json::object& meta_of(json::object& msg) {
  json::value& p = msg["params"];
  if (!p.is_object()) {
    p = json::object();
  }
  json::value& m = p.get_object()["_meta"];
  if (!m.is_object()) {
    m = json::object();
  }
  return m.get_object();
}

void put_envelope(json::object& msg, const json::object& client_info,
                  const json::object& capabilities) {
  auto& meta_obj = meta_of(msg);
  meta_obj[meta::kProtocolVersion] = kModernVersion;
  meta_obj[meta::kClientInfo] = client_info;
  meta_obj[meta::kClientCapabilities] = capabilities;
}

std::string header_value(std::string_view text) {
  const bool plain = !text.empty() && text.front() != ' ' && text.back() != ' ' &&
                     std::all_of(text.begin(), text.end(),
                                 [](char c) { return c >= 0x20 && c < 0x7f; }) &&
                     !text.starts_with("=?");
  if (plain) {
    return std::string(text);
  }
  std::string b64(4 * ((text.size() + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                  reinterpret_cast<const unsigned char*>(text.data()),
                  static_cast<int>(text.size()));
  return fmt::format("{}{}{}", kSentinelOpen, b64, kSentinelClose);
}

bool has_header_params(const json::array& tools) {
  for (const auto& t : tools) {
    const json::object* props = t.is_object() ? schema_properties(t.get_object()) : nullptr;
    if (props == nullptr) {
      continue;
    }
    for (const auto& [name, def] : *props) {
      if (def.is_object() && def.get_object().contains("x-mcp-header")) {
        return true;
      }
    }
  }
  return false;
}

std::vector<std::pair<std::string, std::string>> param_headers(const json::object& tool,
                                                               const json::object& call_params) {
  std::vector<std::pair<std::string, std::string>> out;
  const json::object* props = schema_properties(tool);
  const auto* a = call_params.if_contains("arguments");
  if (props == nullptr || a == nullptr || !a->is_object()) {
    return out;
  }
  for (const auto& [prop, def] : *props) {
    const auto* h = def.is_object() ? def.get_object().if_contains("x-mcp-header") : nullptr;
    const auto* v = a->get_object().if_contains(prop);
    const auto text = h != nullptr && h->is_string() && v != nullptr ? header_text(*v)
                                                                     : std::nullopt;
    if (text) {
      out.emplace_back(fmt::format("Mcp-Param-{}", std::string_view(h->get_string())),
                       header_value(*text));
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> mirrored_headers(const json::object& msg) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::string_view method = jsonrpc::method(msg);
  if (!msg.contains("id") || method.empty()) {
    return out;
  }
  out.emplace_back("Mcp-Method", std::string(method));
  const char* field = name_field(method);
  if (field == nullptr) {
    return out;
  }
  out.emplace_back("Mcp-Name", header_value(string_in(params_of(msg), field)));
  return out;
}

bool refuses_for_modern(const json::object& error) noexcept {
  const auto* code = error.if_contains("code");
  if (code == nullptr || !code->is_int64() || code->get_int64() != -32022) {
    return false;
  }
  const auto* data = error.if_contains("data");
  const auto* supported = data != nullptr && data->is_object()
                              ? data->get_object().if_contains("supported")
                              : nullptr;
  if (supported == nullptr || !supported->is_array()) {
    return false;
  }
  for (const auto& v : supported->get_array()) {
    if (v.is_string() && v.get_string() == kModernVersion) {
      return true;
    }
  }
  return false;
}

bool is_input_required(const json::object& reply) noexcept {
  const auto* r = reply.if_contains("result");
  if (r == nullptr || !r->is_object()) {
    return false;
  }
  const auto* t = r->get_object().if_contains("resultType");
  return t != nullptr && t->is_string() && t->get_string() == "input_required";
}

void strip_result(json::object& reply) {
  auto* r = reply.if_contains("result");
  if (r == nullptr || !r->is_object()) {
    return;
  }
  auto& result = r->get_object();
  for (auto key : {"resultType", "ttlMs", "cacheScope"}) {
    result.erase(key);
  }
  if (auto* m = result.if_contains("_meta"); m != nullptr && m->is_object()) {
    m->get_object().erase(meta::kServerInfo);
    if (m->get_object().empty()) {
      result.erase("_meta");
    }
  }
}

}  // namespace mcpgw::mcp
