#include "gate/pins.hpp"
#include "access/key_store.hpp"
#include "access/sqlite_store.hpp"
#include "common/clock.hpp"
#include "gate/filters.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <future>

namespace mcpgw::gate {

namespace {

/// The value with every object's keys in byte order, so equal definitions serialise equally.
json::value canonical(const json::value& v) {
  if (v.is_object()) {
    std::vector<std::pair<std::string_view, const json::value*>> items;
    for (const auto& kv : v.get_object()) {
      items.emplace_back(kv.key(), &kv.value());
    }
    std::sort(items.begin(), items.end());
    json::object out;
    out.reserve(items.size());
    for (const auto& [k, val] : items) {
      out.emplace(k, canonical(*val));
    }
    return out;
  }
  if (v.is_array()) {
    json::array out;
    out.reserve(v.get_array().size());
    for (const auto& item : v.get_array()) {
      out.push_back(canonical(item));
    }
    return out;
  }
  return v;
}

/// What a pin covers: everything the model reads and everything the gate derives labels from.
constexpr std::string_view kPinned[] = {"name",         "title",        "description",
                                        "inputSchema",  "outputSchema", "annotations"};
/// What pins covered before they covered the title and annotations.
constexpr std::string_view kLegacyPinned[] = {"name", "description", "inputSchema",
                                              "outputSchema"};

/// A pin written before pins covered annotations (its definition has no "annotations" key:
/// today's always has one, null when the tool has none).
bool legacy_pin(const std::string& definition) {
  boost::system::error_code ec;
  const auto v = json::parse(definition, ec);
  return !ec && v.is_object() && !v.get_object().contains("annotations");
}


/// Which pinned fields differ between two canonical definitions.
std::string changed_fields(const std::string& before, const std::string& after) {
  boost::system::error_code e1, e2;
  const auto a = json::parse(before, e1);
  const auto b = json::parse(after, e2);
  if (e1 || e2 || !a.is_object() || !b.is_object()) {
    return "definition";
  }
  std::string out;
  for (auto field : kPinned) {
    const auto* x = a.get_object().if_contains(field);
    const auto* y = b.get_object().if_contains(field);
    if ((x == nullptr) != (y == nullptr) || (x != nullptr && *x != *y)) {
      out += fmt::format("{}{}", out.empty() ? "" : ", ", field);
    }
  }
  return out.empty() ? "definition" : out;
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS tool_pins ("
    " server TEXT NOT NULL, tool TEXT NOT NULL, hash TEXT NOT NULL, definition TEXT NOT NULL,"
    " pinned_at INTEGER NOT NULL, PRIMARY KEY (server, tool));";

}  // namespace

std::string PinStore::key(std::string_view server, std::string_view tool) {
  std::string k;
  k.reserve(server.size() + tool.size() + 1);
  k.append(server).push_back('\x1f');
  k.append(tool);
  return k;
}

std::string PinStore::tool_hash(const json::object& tool, std::string* canonical_out,
                                bool legacy) {
  json::object pinned;
  if (legacy) {
    for (auto field : kLegacyPinned) {
      if (const auto* v = tool.if_contains(field)) {
        pinned.emplace(field, canonical(*v));
      }
    }
  } else {
    for (auto field : kPinned) {
      const auto* v = tool.if_contains(field);
      pinned.emplace(field, v != nullptr ? canonical(*v) : json::value());
    }
  }
  std::string text = json::serialize(pinned);
  std::string hash = access::sha256_hex(text);
  if (canonical_out != nullptr) {
    *canonical_out = std::move(text);
  }
  return hash;
}

std::shared_ptr<PinStore> PinStore::open(const std::string& path, const Detectors* inspect,
                                         std::string& error) {
  sqlite3* db = access::open_sqlite(path, kSchema, "tool pin store", 2000, error);
  if (db == nullptr) {
    return nullptr;
  }
  std::shared_ptr<PinStore> store(new PinStore());
  store->db_ = db;
  store->inspect_ = inspect;
  if (inspect != nullptr) {
    store->injection_.resize(inspect->size());
    for (std::size_t i = 0; i < inspect->size(); ++i) {
      store->injection_[i] = inspect->group(static_cast<std::uint16_t>(i)) == Group::injection;
    }
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT server, tool, hash, definition, pinned_at FROM tool_pins",
                         -1, &st, nullptr) != SQLITE_OK) {
    error = fmt::format("cannot read the tool pin store {}: {}", path, sqlite3_errmsg(db));
    return nullptr;
  }
  auto col = [&](int i) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return std::string(t != nullptr ? t : "");
  };
  while (sqlite3_step(st) == SQLITE_ROW) {
    Pin p;
    p.server = col(0);
    p.tool = col(1);
    p.hash = col(2);
    p.definition = col(3);
    p.pinned_ms = sqlite3_column_int64(st, 4);
    store->pins_.emplace(key(p.server, p.tool), std::move(p));
  }
  sqlite3_finalize(st);
  store->writer_ = std::make_unique<boost::asio::thread_pool>(1);
  return store;
}

PinStore::~PinStore() {
  if (writer_) {
    writer_->join();
  }
  sqlite3_close(db_);
}

void PinStore::write(const Pin& pin) {
  boost::asio::post(*writer_, [db = db_, server = pin.server, tool = pin.tool, hash = pin.hash,
                               definition = pin.definition, at = pin.pinned_ms] {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO tool_pins (server, tool, hash, definition, pinned_at) "
                           "VALUES (?, ?, ?, ?, ?) ON CONFLICT (server, tool) DO UPDATE SET "
                           "hash = excluded.hash, definition = excluded.definition, "
                           "pinned_at = excluded.pinned_at",
                           -1, &st, nullptr) != SQLITE_OK) {
      spdlog::error("tool pins: cannot write: {}", sqlite3_errmsg(db));
      return;
    }
    sqlite3_bind_text(st, 1, server.data(), static_cast<int>(server.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tool.data(), static_cast<int>(tool.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hash.data(), static_cast<int>(hash.size()), SQLITE_STATIC);
    sqlite3_bind_text(st, 4, definition.data(), static_cast<int>(definition.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, at);
    if (sqlite3_step(st) != SQLITE_DONE) {
      spdlog::error("tool pins: cannot write the pin of {}/{}: {}", server, tool,
                    sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
  });
}

void PinStore::flush() {
  std::promise<void> done;
  auto f = done.get_future();
  boost::asio::post(*writer_, [&done] { done.set_value(); });
  f.wait();
}

std::size_t PinStore::screen(const std::string& server,
                             const std::shared_ptr<const json::array>& tools, bool strict) {
  if (!tools) {
    return 0;
  }
  auto last = last_.find(server);
  if (last != last_.end() && last->second == tools) {
    return 0;  // the same list as last time: nothing new to see
  }
  last_[server] = tools;
  // Strict: once a server's tools are pinned, its tool set is pinned too.
  const std::string prefix = key(server, "");
  auto first = pins_.lower_bound(prefix);
  const bool set_pinned =
      strict && first != pins_.end() && std::string_view(first->first).starts_with(prefix);
  std::size_t quarantined = 0;
  for (const auto& item : *tools) {
    const auto* t = item.if_object();
    const auto* name = t != nullptr ? t->if_contains("name") : nullptr;
    if (name != nullptr && name->is_string() &&
        screen_tool(server, std::string(name->get_string()), *t, set_pinned)) {
      ++quarantined;
    }
  }
  return quarantined;
}

bool PinStore::screen_tool(const std::string& server, const std::string& tool,
                           const json::object& t, bool set_pinned) {
  std::string definition;
  const std::string hash = tool_hash(t, &definition);
  auto [it, fresh] = pins_.try_emplace(key(server, tool));
  Pin& pin = it->second;
  if (fresh) {
    pin.server = server;
    pin.tool = tool;
  }
  if (!pin.hash.empty() && pin.hash != hash && legacy_pin(pin.definition) &&
      pin.hash == tool_hash(t, nullptr, true)) {
    spdlog::info("tool pins: {}/{}: the pin now covers its title and annotations too", server,
                 tool);
    pin.hash = hash;  // unchanged since it was pinned: the pin grows to today's fields
    pin.definition = definition;
    write(pin);
  }
  if (!pin.hash.empty() && pin.hash == hash) {
    if (!pin.pending_hash.empty()) {
      spdlog::info("tool pins: {}/{} is back to its pinned definition; out of quarantine",
                   server, tool);
      pin.pending_hash.clear();
      pin.pending_definition.clear();
      pin.reason.clear();
    }
    return false;
  }
  if (pin.pending_hash == hash) {
    return false;  // already quarantined for this very definition
  }
  const std::string poison = poisoned(t);
  const bool added = fresh && set_pinned;
  if (pin.hash.empty() && poison.empty() && !added) {
    pin.hash = hash;  // first sight: pinned as it is
    pin.definition = std::move(definition);
    pin.pinned_ms = unix_ms();
    write(pin);
    return false;
  }
  pin.pending_hash = hash;
  if (!pin.hash.empty()) {
    pin.reason = fmt::format("its {} changed since it was pinned{}{}",
                             changed_fields(pin.definition, definition),
                             poison.empty() ? "" : ", and the new definition ", poison);
  } else if (added) {
    pin.reason = fmt::format("it is new on a server whose tool set is pinned (pins: strict){}{}",
                             poison.empty() ? "" : ", and its description ", poison);
  } else {
    pin.reason = "its description " + poison;
  }
  pin.pending_definition = std::move(definition);
  pin.seen_ms = unix_ms();
  spdlog::warn("tool pins: {}/{} is quarantined: {}; approve it with `mcpgw tools approve {} "
               "{}`", server, tool, pin.reason, server, tool);
  return true;
}

/// Tool poisoning: what the model will read, its description and the descriptions inside its
/// input schema, read like prompt injection. Empty when not.
std::string PinStore::poisoned(const json::object& t) const {
  if (inspect_ == nullptr) {
    return {};
  }
  std::vector<Finding> findings;
  const auto* desc = t.if_contains("description");
  if (desc != nullptr && desc->is_string()) {
    inspect_->scan(std::string_view(desc->get_string()), injection_, findings);
  }
  if (const auto* schema = t.if_contains("inputSchema"); findings.empty() && schema != nullptr) {
    inspect_->scan(json::serialize(*schema), injection_, findings);
  }
  return findings.empty() ? std::string()
                          : fmt::format("reads like prompt injection ({})",
                                        inspect_->name(findings.front().detector));
}

const std::string* PinStore::quarantined(const std::string& server, std::string_view tool) const {
  auto it = pins_.find(key(server, tool));
  if (it == pins_.end() || it->second.pending_hash.empty()) {
    return nullptr;
  }
  return &it->second.reason;
}

bool PinStore::approve(const std::string& server, std::string_view tool) {
  auto it = pins_.find(key(server, tool));
  if (it == pins_.end() || it->second.pending_hash.empty()) {
    return false;
  }
  Pin& pin = it->second;
  pin.hash = std::move(pin.pending_hash);
  pin.definition = std::move(pin.pending_definition);
  pin.pending_hash.clear();
  pin.pending_definition.clear();
  pin.reason.clear();
  pin.pinned_ms = unix_ms();
  write(pin);
  return true;
}

json::array PinStore::list() const {
  json::array out;
  for (const auto& [k, pin] : pins_) {
    json::object o;
    o["server"] = pin.server;
    o["tool"] = pin.tool;
    o["status"] = pin.pending_hash.empty() ? "pinned" : "quarantined";
    if (!pin.hash.empty()) {
      o["hash"] = pin.hash;
      o["pinned"] = pin.pinned_ms;
    }
    if (!pin.pending_hash.empty()) {
      o["reason"] = pin.reason;
      o["newHash"] = pin.pending_hash;
      o["seen"] = pin.seen_ms;
    }
    out.push_back(std::move(o));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

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
  std::string error;
  auto store = PinStore::open(path, descriptions == "quarantine" ? &gate.detectors() : nullptr,
                              error);
  if (!store) {
    diag.error(s.path("path"), error);
    return std::nullopt;
  }
  gate.set_pins(store);
  return FilterFactory([store, strict] { return std::make_unique<PinFilter>(store, strict); });
}

}  // namespace mcpgw::gate
