// mcpgw-demo: a small, fast MCP server on stdio. It is the example config's own server and the
// benchmark's backend: tools echo, add, now and sleep; one resource; one prompt.
#include "jsonrpc/message.hpp"

#include <chrono>
#include <ctime>
#include <iostream>
#include <string>
#include <thread>

namespace json = boost::json;
using mcpgw::jsonrpc::make_error;
using mcpgw::jsonrpc::make_result;

namespace {

json::object text_result(std::string text, bool is_error = false) {
  json::object item;
  item["type"] = "text";
  item["text"] = std::move(text);
  json::object r;
  r["content"] = json::array{std::move(item)};
  if (is_error) {
    r["isError"] = true;
  }
  return r;
}

json::value tool(std::string_view name, std::string_view description, json::object properties,
                 json::array required, bool read_only) {
  json::object schema;
  schema["type"] = "object";
  schema["properties"] = std::move(properties);
  schema["required"] = std::move(required);
  json::object annotations;
  annotations["readOnlyHint"] = read_only;
  annotations["openWorldHint"] = false;
  json::object t;
  t["name"] = name;
  t["description"] = description;
  t["inputSchema"] = std::move(schema);
  t["annotations"] = std::move(annotations);
  return t;
}

json::object prop(std::string_view type, std::string_view description) {
  json::object p;
  p["type"] = type;
  p["description"] = description;
  return p;
}

const json::array& tools() {
  static const json::array list = [] {
    json::array a;
    a.push_back(tool("echo", "Returns the message it is given.",
                     {{"message", prop("string", "Text to echo")}}, {"message"}, true));
    a.push_back(tool("add", "Adds two numbers.",
                     {{"a", prop("number", "First addend")}, {"b", prop("number", "Second addend")}},
                     {"a", "b"}, true));
    a.push_back(tool("now", "Returns the current UTC time (ISO 8601).", {}, {}, true));
    a.push_back(tool("sleep", "Waits the given number of milliseconds, then returns.",
                     {{"ms", prop("integer", "Milliseconds to wait (at most 60000)")}}, {"ms"},
                     true));
    return a;
  }();
  return list;
}

double number(const json::object& args, std::string_view key, bool& ok) {
  const auto* v = args.if_contains(key);
  if (v == nullptr || !(v->is_number())) {
    ok = false;
    return 0;
  }
  return v->to_number<double>();
}

json::object call_tool(const json::object& params, bool& is_rpc_error, std::string& error) {
  const auto* name = params.if_contains("name");
  json::object empty;
  const json::object* args = &empty;
  if (const auto* a = params.if_contains("arguments"); a && a->is_object()) {
    args = &a->get_object();
  }
  const std::string_view n = name && name->is_string() ? std::string_view(name->get_string()) : "";
  if (n == "echo") {
    const auto* m = args->if_contains("message");
    if (m == nullptr || !m->is_string()) {
      return text_result("echo needs a string 'message'", true);
    }
    return text_result("Echo: " + std::string(m->get_string()));
  }
  if (n == "add") {
    bool ok = true;
    const double a = number(*args, "a", ok);
    const double b = number(*args, "b", ok);
    if (!ok) {
      return text_result("add needs numbers 'a' and 'b'", true);
    }
    // Integers stay integers ("42", not "4.2E1").
    const double sum = a + b;
    json::value v = sum;
    if (sum == static_cast<double>(static_cast<std::int64_t>(sum)) && sum < 9e15 && sum > -9e15) {
      v = static_cast<std::int64_t>(sum);
    }
    json::object r = text_result(json::serialize(v));
    json::object structured;
    structured["sum"] = v;
    r["structuredContent"] = std::move(structured);
    return r;
  }
  if (n == "now") {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return text_result(buf);
  }
  if (n == "sleep") {
    bool ok = true;
    double ms = number(*args, "ms", ok);
    if (!ok || ms < 0 || ms > 60000) {
      return text_result("sleep needs 'ms' from 0 to 60000", true);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(ms)));
    return text_result("Slept " + std::to_string(static_cast<long>(ms)) + " ms");
  }
  is_rpc_error = true;
  error = "Unknown tool: " + std::string(n);
  return {};
}

json::object handle(const json::object& req) {
  const json::value& id = req.at("id");
  const std::string_view method = mcpgw::jsonrpc::method(req);
  json::object params;
  if (const auto* p = req.if_contains("params"); p && p->is_object()) {
    params = p->get_object();
  }
  if (method == "initialize") {
    json::object caps;
    caps["tools"] = json::object();
    caps["resources"] = json::object();
    caps["prompts"] = json::object();
    json::object info;
    info["name"] = "mcpgw-demo";
    info["version"] = MCPGW_VERSION;
    json::object r;
    const auto* v = params.if_contains("protocolVersion");
    r["protocolVersion"] = v && v->is_string() ? *v : json::value("2025-06-18");
    r["capabilities"] = std::move(caps);
    r["serverInfo"] = std::move(info);
    r["instructions"] = "Demo tools: echo, add, now, sleep.";
    return make_result(id, std::move(r));
  }
  if (method == "ping") {
    return make_result(id, json::object());
  }
  if (method == "tools/list") {
    json::object r;
    r["tools"] = tools();
    return make_result(id, std::move(r));
  }
  if (method == "tools/call") {
    bool rpc_error = false;
    std::string error;
    json::object r = call_tool(params, rpc_error, error);
    if (rpc_error) {
      return make_error(id, -32602, error);
    }
    return make_result(id, std::move(r));
  }
  if (method == "resources/list") {
    json::object res;
    res["uri"] = "demo://readme";
    res["name"] = "readme";
    res["description"] = "What this demo server offers";
    res["mimeType"] = "text/plain";
    json::object r;
    r["resources"] = json::array{std::move(res)};
    return make_result(id, std::move(r));
  }
  if (method == "resources/templates/list") {
    json::object r;
    r["resourceTemplates"] = json::array();
    return make_result(id, std::move(r));
  }
  if (method == "resources/read") {
    const auto* uri = params.if_contains("uri");
    if (uri == nullptr || !uri->is_string() || uri->get_string() != "demo://readme") {
      return make_error(id, -32002, "Resource not found");
    }
    json::object c;
    c["uri"] = "demo://readme";
    c["mimeType"] = "text/plain";
    c["text"] = "mcpgw-demo serves echo, add, now and sleep.";
    json::object r;
    r["contents"] = json::array{std::move(c)};
    return make_result(id, std::move(r));
  }
  if (method == "prompts/list") {
    json::object arg;
    arg["name"] = "name";
    arg["description"] = "Who to greet";
    arg["required"] = true;
    json::object p;
    p["name"] = "greeting";
    p["description"] = "A friendly greeting";
    p["arguments"] = json::array{std::move(arg)};
    json::object r;
    r["prompts"] = json::array{std::move(p)};
    return make_result(id, std::move(r));
  }
  if (method == "prompts/get") {
    std::string who = "there";
    if (const auto* a = params.if_contains("arguments"); a && a->is_object()) {
      if (const auto* n = a->get_object().if_contains("name"); n && n->is_string()) {
        who = std::string(n->get_string());
      }
    }
    json::object content;
    content["type"] = "text";
    content["text"] = "Say hello to " + who + ".";
    json::object msg;
    msg["role"] = "user";
    msg["content"] = std::move(content);
    json::object r;
    r["messages"] = json::array{std::move(msg)};
    return make_result(id, std::move(r));
  }
  return make_error(id, -32601, "Method not found: " + std::string(method));
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::cin.tie(nullptr);
  std::string line;
  std::string out;
  while (std::getline(std::cin, line)) {
    auto parsed = mcpgw::jsonrpc::parse(line);
    if (!parsed || !parsed->is_object()) {
      continue;
    }
    const auto& msg = parsed->get_object();
    if (mcpgw::jsonrpc::classify(msg) != mcpgw::jsonrpc::Kind::request) {
      continue;  // notifications and responses need no answer
    }
    out += mcpgw::jsonrpc::serialize(handle(msg));
    out += '\n';
    // Flush when no more input is already buffered: one write for a burst of requests.
    if (std::cin.rdbuf()->in_avail() == 0) {
      std::cout << out << std::flush;
      out.clear();
    }
  }
  std::cout << out << std::flush;
  return 0;
}
