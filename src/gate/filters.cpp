#include "gate/filters.hpp"
#include "common/random.hpp"
#include "gate/fence.hpp"
#include "gate/walk.hpp"

#include <fmt/format.h>

namespace mcpgw::gate {

void expect_common_keys(config::ObjectReader& r) {
  r.get("type");
  r.get("shadow");
}

namespace {

enum class FlowAction : std::uint8_t { off, approve, deny };

/// A string argument that is an http(s) URL: the call can carry data to anywhere.
bool takes_url(const json::object& params) {
  const auto* args = params.if_contains("arguments");
  if (args == nullptr || !args->is_object()) {
    return false;
  }
  for (const auto& kv : args->get_object()) {
    if (kv.value().is_string()) {
      const std::string_view v = kv.value().get_string();
      if (v.starts_with("http://") || v.starts_with("https://")) return true;
    }
  }
  return false;
}

}  // namespace

bool may_send_out(const Call& call) {
  return call.labels.public_sink == Tri::yes ||
         (call.labels.public_source == Tri::yes && call.params != nullptr &&
          takes_url(*call.params));
}

namespace {

class TaintFilter final : public Filter {
 public:
  explicit TaintFilter(FlowAction flows) : flows_(flows) {}

  Outcome request(Call& call) override {
    note_sent_tokens(call);
    if (const char* label = call.labels.forbidden()) {
      return Outcome::deny(fmt::format("{} is forbidden ({}: \"forbidden\")", call.source, label));
    }
    const Scope& scope = *call.scope;
    if (call.labels.dangerous_writes == Tri::yes && scope.untrusted) {
      return Outcome::approve(fmt::format(
          "{} can change the world (dangerous_writes) and this scope is {}", call.source,
          scope.describe()));
    }
    if (Outcome flow = value_flow(call); flow.kind != Outcome::Kind::pass) {
      return flow;
    }
    if (call.labels.public_sink == Tri::yes && scope.untrusted && scope.secrets) {
      return Outcome::approve(fmt::format(
          "{} can send data out (public_sink) and this scope is {}: untrusted input, private "
          "data and an outbound channel together", call.source, scope.describe()));
    }
    return Outcome::pass();
  }

  Outcome result(Call& call, json::object& reply) override {
    // Whatever came back is now in the agent's context, error messages included.
    mark(call);
    auto* result = reply.if_contains("result");
    if (flows_ != FlowAction::off && call.labels.secret_data == Tri::yes && result != nullptr) {
      for (const auto& f : text_fields(*result).fields) {
        if (f.kind() != FieldKind::label) {
          call.scope->values.remember_tokens(f.text(), call.source, call.sent_tokens);
        }
      }
    }
    return Outcome::pass();
  }

  /// A log message or progress is in the context the moment it is delivered, while the call
  /// that caused it still runs.
  Outcome server_message(Call& call, json::object&) override {
    mark(call);
    return Outcome::pass();
  }

 private:
  /// A tool that returns secrets may echo its arguments: those are not secrets it returned.
  void note_sent_tokens(Call& call) const {
    const auto* args = call.params != nullptr ? call.params->if_contains("arguments") : nullptr;
    if (flows_ == FlowAction::off || call.labels.secret_data != Tri::yes || args == nullptr) {
      return;
    }
    for (const auto& f : text_fields(*args).fields) {
      SecretValues::tokens(f.text(), call.sent_tokens);
    }
  }

  /// A secret value this scope read, in the arguments of a call that can send it out: a public
  /// sink, or a tool of an open-world server given a URL.
  Outcome value_flow(const Call& call) const {
    const Scope& scope = *call.scope;
    if (flows_ == FlowAction::off || scope.values.empty() || call.params == nullptr) {
      return Outcome::pass();
    }
    if (!may_send_out(call)) {
      return Outcome::pass();
    }
    const bool sink = call.labels.public_sink == Tri::yes;
    const auto* args = call.params->if_contains("arguments");
    if (args == nullptr) {
      return Outcome::pass();
    }
    std::vector<std::string_view> texts;
    const auto walked = text_fields(*args);
    for (const auto& f : walked.fields) texts.push_back(f.text());
    auto m = scope.values.find(texts);
    if (!m) {
      return Outcome::pass();
    }
    std::string why = fmt::format(
        "the arguments of {} carry a secret value read from {} ({}), and {} {}; this scope is {}",
        call.source, m->source, m->how, call.source,
        sink ? "can send data out (public_sink)" : "reaches the open world at a URL it is given",
        scope.describe());
    return flows_ == FlowAction::deny ? Outcome::deny(std::move(why))
                                      : Outcome::approve(std::move(why));
  }

  static void mark(Call& call) {
    if (call.labels.public_source == Tri::yes) {
      call.scope->mark_untrusted(call.source);
    }
    if (call.labels.secret_data == Tri::yes) {
      call.scope->mark_secrets(call.source);
    }
  }

  FlowAction flows_;
};

class FenceFilter final : public Filter {
 public:
  FenceFilter(bool refuse_binary, bool refuse_requests)
      : refuse_binary_(refuse_binary), refuse_requests_(refuse_requests) {}

  Outcome server_message(Call& call, json::object& msg) override {
    if (call.labels.public_source != Tri::yes) {
      return Outcome::pass();
    }
    const bool request = msg.contains("id");
    if (request && refuse_requests_) {
      return Outcome::deny(fmt::format(
          "{} asks the client through {}, and this gate refuses questions from untrusted "
          "sources", call.server, call.method));
    }
    auto* params = msg.if_contains("params");
    if (params == nullptr) {
      return Outcome::pass();
    }
    const std::size_t fenced = fence_fields(call, *params);
    if (request && params->is_object()) {
      attribute(call, params->get_object());
    }
    if (fenced > 0) {
      call.decisions.push_back(fmt::format("fence: {}{} text field(s) of {}",
                                           shadow ? "shadow: would fence " : "fenced ", fenced,
                                           call.source));
    }
    return Outcome::pass();
  }

  Outcome result(Call& call, json::object& reply) override {
    if (call.labels.public_source != Tri::yes) {
      return Outcome::pass();
    }
    json::value* body = reply.if_contains("result");
    if (body == nullptr) {
      body = reply.if_contains("error");  // an error's message and data are the server's words
    }
    if (body == nullptr) {
      return Outcome::pass();
    }
    auto found = text_fields(*body);
    if (refuse_binary_ && found.binary > 0) {
      return Outcome::deny(fmt::format(
          "it carries {} binary item(s) (images, audio or blobs) from {}, an untrusted source, "
          "and this gate refuses binary content from untrusted sources", found.binary,
          call.source));
    }
    const std::size_t fenced = fence_fields(call, found);
    if (auto* asks = body->is_object() ? body->get_object().if_contains("inputRequests") : nullptr;
        asks != nullptr && asks->is_object()) {
      for (auto& kv : asks->get_object()) {  // questions a stateless server passes to the client
        auto* p = kv.value().is_object() ? kv.value().get_object().if_contains("params") : nullptr;
        if (p != nullptr && p->is_object()) attribute(call, p->get_object());
      }
    }
    if (fenced > 0) {
      call.decisions.push_back(fmt::format("fence: {}{} text field(s) from {}",
                                           shadow ? "shadow: would fence " : "fenced ", fenced,
                                           call.source));
    }
    return Outcome::pass();
  }

 private:
  /// The user reads an elicitation's message: say plainly who asks, so that it cannot pass for
  /// the gate's own approval prompt.
  void attribute(const Call& call, json::object& params) const {
    auto* message = params.if_contains("message");
    if (!shadow && message != nullptr && message->is_string()) {
      *message = fmt::format("Asked by server \"{}\", not by mcpgw. It is an untrusted source: "
                             "do not give it secrets it has no need for.\n{}", call.server,
                             std::string_view(message->get_string()));
    }
  }

  std::size_t fence_fields(Call& call, json::value& root) {
    auto found = text_fields(root);
    return fence_fields(call, found);
  }

  std::size_t fence_fields(Call& call, TextFields& found) {
    std::size_t fenced = 0;
    for (auto& field : found.fields) {
      if (field.kind() == FieldKind::label || field.text().empty()) {
        continue;
      }
      ++fenced;
      if (!shadow) {
        field.set(fence(field.text(), call.source, random_hex(8)));
      }
    }
    return fenced;
  }

  bool refuse_binary_;
  bool refuse_requests_;
};

}  // namespace

std::optional<FilterFactory> make_taint_filter(const config::FilterConfig& fc, Gate&,
                                               config::Diagnostics& diag) {
  config::ObjectReader r(fc.settings, fc.path, diag);
  expect_common_keys(r);
  const std::size_t errors = diag.errors.size();
  std::string flows = "approve";
  r.choice("flows", flows, {"approve", "deny", "off"});
  if (diag.errors.size() != errors) {
    return std::nullopt;
  }
  const FlowAction action = flows == "off"    ? FlowAction::off
                            : flows == "deny" ? FlowAction::deny
                                              : FlowAction::approve;
  return FilterFactory([action] { return std::make_unique<TaintFilter>(action); });
}

std::optional<FilterFactory> make_fence_filter(const config::FilterConfig& fc, Gate&,
                                               config::Diagnostics& diag) {
  config::ObjectReader r(fc.settings, fc.path, diag);
  expect_common_keys(r);
  const std::size_t errors = diag.errors.size();
  std::string binary = "pass", requests = "pass";
  r.choice("binary", binary, {"pass", "refuse"});
  r.choice("serverRequests", requests, {"pass", "refuse"});
  if (diag.errors.size() != errors) {
    return std::nullopt;
  }
  const bool refuse = binary == "refuse", refuse_requests = requests == "refuse";
  return FilterFactory([refuse, refuse_requests] {
    return std::make_unique<FenceFilter>(refuse, refuse_requests);
  });
}

}  // namespace mcpgw::gate
