// The tracing stage: a span per exchange (kind server) and per call to a server (kind client),
// named and attributed after OpenTelemetry's MCP semantic conventions ("{method} {target}",
// mcp.method.name, mcp.session.id, gen_ai.tool.name, mcp.resource.uri, jsonrpc.request.id,
// error.type). The client's context comes from params._meta.traceparent (the MCP way) or the
// HTTP traceparent header; each call to a server carries the gateway's own span in its
// params._meta.traceparent and, to an HTTP server, in a traceparent header. With tracing off
// none of this runs; an unsampled request without a parent costs one random draw.
#include "relay/relay.hpp"
#include "relay/util.hpp"

#include "jsonrpc/message.hpp"
#include "mcp/protocol.hpp"

namespace mcpgw::relay {

namespace {

/// The client's context: params._meta.traceparent, else the HTTP header.
std::optional<trace::Context> incoming(const Exchange& ex) {
  if (const auto* p = ex.request.if_contains("params"); p != nullptr && p->is_object()) {
    if (const auto* m = p->get_object().if_contains("_meta"); m != nullptr && m->is_object()) {
      if (const auto* tp = m->get_object().if_contains("traceparent");
          tp != nullptr && tp->is_string()) {
        if (auto ctx = trace::parse_traceparent(tp->get_string())) {
          return ctx;
        }
      }
    }
  }
  if (!ex.intake.traceparent.empty()) {
    return trace::parse_traceparent(ex.intake.traceparent);
  }
  return std::nullopt;
}

/// What the semantic conventions call the target: the tool, prompt or resource.
void add_target(trace::Span& s, std::string_view method, const std::string& target) {
  if (target.empty()) {
    return;
  }
  if (method == mcp::method::kToolsCall) {
    s.attributes.emplace_back("gen_ai.tool.name", target);
  } else if (method == mcp::method::kPromptsGet) {
    s.attributes.emplace_back("gen_ai.prompt.name", target);
  } else if (method == mcp::method::kResourcesRead) {
    s.attributes.emplace_back("mcp.resource.uri", target);
  }
}

std::string span_name(std::string_view method, const std::string& target) {
  std::string name(method);
  if (!target.empty()) {
    name.append(1, ' ').append(target);
  }
  return name;
}

/// The error of a JSON-RPC reply, or of a tool result with isError, on the span.
void add_outcome(trace::Span& s, const json::object& reply) {
  if (const auto* e = reply.if_contains("error"); e != nullptr && e->is_object()) {
    s.error = true;
    const auto* code = e->get_object().if_contains("code");
    const auto c = code != nullptr && code->is_int64() ? code->get_int64() : 0;
    s.attributes.emplace_back("rpc.jsonrpc.error_code", c);
    s.attributes.emplace_back("error.type", std::to_string(c));
    s.status = std::string(string_at(e->get_object(), "message"));
    return;
  }
  if (const auto* r = reply.if_contains("result"); r != nullptr && r->is_object()) {
    if (const auto* is_error = r->get_object().if_contains("isError");
        is_error != nullptr && is_error->is_bool() && is_error->get_bool()) {
      s.error = true;
      s.attributes.emplace_back("error.type", std::string("tool_error"));
    }
  }
}

}  // namespace

void Relay::start_trace(Exchange& ex) {
  auto& tracer = trace::Tracer::instance();
  if (!tracer.on()) {
    return;
  }
  const auto parent = incoming(ex);
  if (parent) {
    ex.trace = tracer.child_of(*parent);
    ex.trace_parent = parent->span;
  } else if (tracer.sample_root()) {
    ex.trace = tracer.sampled_root();
  } else {
    return;  // not recorded, and nothing to pass on: no ids are made
  }
  ex.trace_propagate = true;
  if (ex.trace.sampled) {
    ex.trace_start_ns = trace::now_ns();
  }
}

void Relay::end_trace(const Exchange& ex) {
  trace::Span s;
  s.ctx = ex.trace;
  s.parent = ex.trace_parent;
  s.kind = trace::Kind::server;
  s.name = span_name(ex.method, ex.target);
  s.start_ns = ex.trace_start_ns;
  s.end_ns = trace::now_ns();
  s.attributes.emplace_back("mcp.method.name", ex.method);
  s.attributes.emplace_back("mcp.session.id", ex.session->id);
  if (!ex.session->protocol_version().empty()) {
    s.attributes.emplace_back("mcp.protocol.version", ex.session->protocol_version());
  }
  if (ex.id.is_string()) {
    s.attributes.emplace_back("jsonrpc.request.id", std::string(ex.id.get_string()));
  } else if (ex.id.is_int64()) {
    s.attributes.emplace_back("jsonrpc.request.id", std::to_string(ex.id.get_int64()));
  }
  s.attributes.emplace_back("network.transport", std::string("tcp"));
  s.attributes.emplace_back("network.protocol.name", std::string("http"));
  add_target(s, ex.method, ex.target);
  if (!ex.server.empty()) {
    s.attributes.emplace_back("mcpgw.server", ex.server);
  }
  s.attributes.emplace_back("mcpgw.outcome", std::string(to_string(ex.outcome)));
  add_outcome(s, ex.reply);
  trace::Tracer::instance().record(std::move(s));
}

std::optional<trace::Span> Relay::trace_upstream(
    const Exchange& ex, json::object& req,
    std::vector<std::pair<std::string, std::string>>& headers) {
  if (!ex.trace_propagate) {
    return std::nullopt;
  }
  const trace::Context ctx = trace::Tracer::instance().child_of(ex.trace);
  std::string value = trace::format_traceparent(ctx);
  json::object& params = params_of(req);
  json::value& meta = params["_meta"];
  if (!meta.is_object()) {
    meta = json::object();
  }
  meta.get_object()["traceparent"] = value;
  headers.emplace_back("traceparent", std::move(value));
  if (!ctx.sampled) {
    return std::nullopt;
  }
  trace::Span s;
  s.ctx = ctx;
  s.parent = ex.trace.span;
  s.kind = trace::Kind::client;
  s.name = span_name(ex.method, ex.name);
  s.start_ns = trace::now_ns();
  s.attributes.emplace_back("mcp.method.name", ex.method);
  add_target(s, ex.method, ex.name);
  s.attributes.emplace_back("mcpgw.server", ex.server);
  return s;
}

void Relay::end_upstream(std::optional<trace::Span> span, const upstream::Call& call,
                         bool answered) {
  if (!span) {
    return;
  }
  span->end_ns = trace::now_ns();
  if (!answered || call.ec || !call.response) {
    span->error = true;
    span->status = !answered ? "no response by the deadline" : call.ec.message();
    span->attributes.emplace_back("error.type", std::string(answered ? "transport" : "timeout"));
  } else {
    add_outcome(*span, *call.response);
  }
  trace::Tracer::instance().record(std::move(*span));
}

}  // namespace mcpgw::relay
