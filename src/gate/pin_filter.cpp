// The "pin" filter: tools whose definition changed since they were pinned are hidden and
// refused (pins.hpp keeps the pins).
#include "gate/filters.hpp"
#include "gate/pins.hpp"

#include <fmt/format.h>

namespace mcpgw::gate {


namespace {

class PinFilter final : public Filter {
 public:
  PinFilter(std::shared_ptr<PinStore> store, std::shared_ptr<const std::set<std::string>> strict)
      : store_(std::move(store)), strict_(std::move(strict)) {}

  void on_tools(const std::string& server,
                const std::shared_ptr<const json::array>& tools) override {
    store_->screen(server, tools, strict_->count(server) != 0);
  }

  bool tool_visible(const std::string& server, std::string_view tool) override {
    return store_->quarantined(server, tool) == nullptr;
  }

  Outcome request(Call& call) override {
    if (call.method != "tools/call") {
      return Outcome::pass();
    }
    if (const std::string* why = store_->quarantined(call.server, call.name)) {
      return Outcome::deny(fmt::format(
          "tool {} is quarantined: {}. An administrator can review it with `mcpgw tools list` "
          "and release it with `mcpgw tools approve {} {}`",
          call.source, *why, call.server, call.name));
    }
    return Outcome::pass();
  }

 private:
  std::shared_ptr<PinStore> store_;
  std::shared_ptr<const std::set<std::string>> strict_;  ///< servers with pins: "strict"
};

}  // namespace

std::optional<FilterFactory> make_pin_filter(const config::FilterConfig& fc, Gate& gate,
                                             config::Diagnostics& diag) {
  const std::size_t errors = diag.errors.size();
  config::ObjectReader s(fc.settings, fc.path, diag);
  expect_common_keys(s);
  std::string path = gate.config().pin_store;
  s.str("path", path);
  std::string descriptions = "quarantine";
  s.choice("descriptions", descriptions, {"quarantine", "off"});
  s.finish();
  if (diag.errors.size() != errors) {
    return std::nullopt;
  }
  auto strict = std::make_shared<const std::set<std::string>>(gate.config().strict_pins);
  if (gate.check_only()) {
    return FilterFactory([strict] { return std::make_unique<PinFilter>(nullptr, strict); });
  }
  const Detectors* inspect = descriptions == "quarantine" ? &gate.detectors() : nullptr;
  // A reload keeps the store it had when it is the same one: its quarantines stay, and a
  // shared store is not read again on the event loop.
  std::shared_ptr<PinStore> store = gate.pins();
  if (!store || store->path() != path || store->inspects() != (inspect != nullptr)) {
    std::string error;
    store = PinStore::open(path, inspect, error, gate.executor(), gate.config().store_timeout);
    if (!store) {
      diag.error(s.path("path"), error);
      return std::nullopt;
    }
    store->on_change([g = &gate](const std::string& server) { g->pins_changed(server); });
  }
  gate.set_pins(store);
  return FilterFactory([store, strict] { return std::make_unique<PinFilter>(store, strict); });
}

}  // namespace mcpgw::gate
