#include "gate/filters.hpp"
#include "common/random.hpp"
#include "gate/fence.hpp"

#include <fmt/format.h>

namespace mcpgw::gate {

void expect_common_keys(config::ObjectReader& r) {
  r.get("type");
  r.get("shadow");
}

namespace {

class TaintFilter final : public Filter {
 public:
  Outcome request(Call& call) override {
    if (const char* label = call.labels.forbidden()) {
      return Outcome::deny(fmt::format("{} is forbidden ({}: \"forbidden\")", call.source, label));
    }
    const Scope& scope = *call.scope;
    if (call.labels.dangerous_writes == Tri::yes && scope.untrusted) {
      return Outcome::approve(fmt::format(
          "{} can change the world (dangerous_writes) and this scope is {}", call.source,
          scope.describe()));
    }
    if (call.labels.public_sink == Tri::yes && scope.untrusted && scope.secrets) {
      return Outcome::approve(fmt::format(
          "{} can send data out (public_sink) and this scope is {}: untrusted input, private "
          "data and an outbound channel together", call.source, scope.describe()));
    }
    return Outcome::pass();
  }

  Outcome result(Call& call, json::object&) override {
    // Whatever came back is now in the agent's context, error messages included.
    if (call.labels.public_source == Tri::yes) {
      call.scope->mark_untrusted(call.source);
    }
    if (call.labels.secret_data == Tri::yes) {
      call.scope->mark_secrets(call.source);
    }
    return Outcome::pass();
  }
};

class FenceFilter final : public Filter {
 public:
  Outcome result(Call& call, json::object& reply) override {
    if (call.labels.public_source != Tri::yes) {
      return Outcome::pass();
    }
    auto* result = reply.if_contains("result");
    if (result == nullptr || !result->is_object()) {
      return Outcome::pass();
    }
    std::size_t fenced = 0;
    auto wrap = [&](json::object& holder, std::string_view key) {
      auto* text = holder.if_contains(key);
      if (text == nullptr || !text->is_string()) {
        return;
      }
      ++fenced;
      if (!shadow) {
        *text = fence(text->get_string(), call.source, random_hex(8));
      }
    };
    auto& r = result->get_object();
    if (auto* content = r.if_contains("content"); content != nullptr && content->is_array()) {
      for (auto& item : content->get_array()) {  // tools/call
        if (!item.is_object()) continue;
        auto& o = item.get_object();
        const auto* type = o.if_contains("type");
        if (type != nullptr && type->is_string() && type->get_string() == "text") {
          wrap(o, "text");
        } else if (auto* res = o.if_contains("resource"); res != nullptr && res->is_object()) {
          wrap(res->get_object(), "text");
        }
      }
    }
    if (auto* contents = r.if_contains("contents"); contents != nullptr && contents->is_array()) {
      for (auto& item : contents->get_array()) {  // resources/read
        if (item.is_object()) wrap(item.get_object(), "text");
      }
    }
    if (auto* messages = r.if_contains("messages"); messages != nullptr && messages->is_array()) {
      for (auto& m : messages->get_array()) {  // prompts/get
        if (!m.is_object()) continue;
        auto* c = m.get_object().if_contains("content");
        if (c != nullptr && c->is_object()) wrap(c->get_object(), "text");
      }
    }
    if (fenced > 0) {
      call.decisions.push_back(fmt::format("fence: {}{} text block(s) from {}",
                                           shadow ? "shadow: would fence " : "fenced ", fenced,
                                           call.source));
    }
    return Outcome::pass();
  }
};

}  // namespace

std::optional<FilterFactory> make_taint_filter(const config::FilterConfig& fc, Gate&,
                                               config::Diagnostics& diag) {
  config::ObjectReader r(fc.settings, fc.path, diag);
  expect_common_keys(r);
  return FilterFactory([] { return std::make_unique<TaintFilter>(); });
}

std::optional<FilterFactory> make_fence_filter(const config::FilterConfig& fc, Gate&,
                                               config::Diagnostics& diag) {
  config::ObjectReader r(fc.settings, fc.path, diag);
  expect_common_keys(r);
  return FilterFactory([] { return std::make_unique<FenceFilter>(); });
}

}  // namespace mcpgw::gate
