#include "gate/labels.hpp"

#include <fmt/format.h>

namespace mcpgw::gate {

namespace json = boost::json;

namespace {

std::optional<bool> hint(const json::object* annotations, std::string_view name) {
  if (annotations == nullptr) {
    return std::nullopt;
  }
  const auto* v = annotations->if_contains(name);
  if (v == nullptr || !v->is_bool()) {
    return std::nullopt;
  }
  return v->get_bool();
}

void fill(Tri& slot, Tri tool, Tri server) {
  slot = tool != Tri::unset ? tool : server;
}

}  // namespace

const char* Labels::forbidden() const noexcept {
  if (public_source == Tri::forbidden) return "public_source";
  if (secret_data == Tri::forbidden) return "secret_data";
  if (public_sink == Tri::forbidden) return "public_sink";
  if (dangerous_writes == Tri::forbidden) return "dangerous_writes";
  return nullptr;
}

std::string Labels::describe() const {
  return fmt::format("public_source={} secret_data={} public_sink={} dangerous_writes={}",
                     config::to_string(public_source), config::to_string(secret_data),
                     config::to_string(public_sink), config::to_string(dangerous_writes));
}

Labels resolve_labels(const config::ServerOptions& server, std::string_view tool,
                      const json::object* annotations) {
  config::TrustLabels t;
  if (auto it = server.tool_trust.find(std::string(tool)); it != server.tool_trust.end()) {
    t = it->second;
  }
  Labels out;
  Tri ps = Tri::unset, sd = Tri::unset, sink = Tri::unset, dw = Tri::unset;
  fill(ps, t.public_source, server.trust.public_source);
  fill(sd, t.secret_data, server.trust.secret_data);
  fill(sink, t.public_sink, server.trust.public_sink);
  fill(dw, t.dangerous_writes, server.trust.dangerous_writes);
  if (dw == Tri::unset) {
    if (hint(annotations, "readOnlyHint") == true) {
      dw = Tri::no;
    } else if (auto d = hint(annotations, "destructiveHint")) {
      dw = *d ? Tri::yes : Tri::no;
    }
  }
  if (hint(annotations, "openWorldHint") == false) {
    if (ps == Tri::unset) ps = Tri::no;
    if (sink == Tri::unset) sink = Tri::no;
  }
  auto known = [](Tri x) { return x == Tri::unset ? Tri::yes : x; };
  out.public_source = known(ps);
  out.secret_data = known(sd);
  out.public_sink = known(sink);
  out.dangerous_writes = known(dw);
  if (auto it = server.tool_approvals.find(std::string(tool)); it != server.tool_approvals.end()) {
    out.approver = it->second;
  } else {
    out.approver = server.approvals;
  }
  return out;
}

}  // namespace mcpgw::gate
