#include "gate/pins.hpp"
#include "access/key_store.hpp"
#include "common/clock.hpp"
#include "gate/pins_pg.hpp"
#include "store/pg_follower.hpp"
#include "store/postgres.hpp"

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <set>

namespace mcpgw::gate {

namespace asio = boost::asio;
namespace json = boost::json;

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
                                         std::string& error, const asio::any_io_executor& ex,
                                         std::chrono::milliseconds timeout) {
  std::shared_ptr<PinStore> out;
  if (store::is_postgres_url(path)) {
    out = create(open_pg_pins(path, timeout), inspect, ex, error);
    if (out && ex) {
      out->follow(path, timeout);
    }
  } else if (auto backend = open_sqlite_pins(path, error)) {
    out = create(std::move(backend), inspect, ex, error);
  }
  if (out) {
    out->path_ = path;
  }
  return out;
}

std::shared_ptr<PinStore> PinStore::create(std::unique_ptr<PinBackend> backend,
                                           const Detectors* inspect,
                                           const asio::any_io_executor& ex, std::string& error) {
  std::shared_ptr<PinStore> store(new PinStore());
  store->backend_ = std::move(backend);
  store->shared_ = store->backend_->shared();
  store->ex_ = ex;
  store->inspect_ = inspect;
  if (inspect != nullptr) {
    store->injection_.resize(inspect->size());
    for (std::size_t i = 0; i < inspect->size(); ++i) {
      store->injection_[i] = inspect->group(static_cast<std::uint16_t>(i)) == Group::injection;
    }
  }
  std::vector<PinRow> rows;
  std::string why;
  if (!store->backend_->load(rows, why)) {
    if (!store->shared_) {
      error = why;
      return nullptr;
    }
    // Fail closed: which definitions the cluster approved is unknown.
    store->loaded_ = false;
    store->unloaded_why_ = fmt::format("the tool pin store cannot be read ({}); every tool is "
                                       "held until it can", why);
    spdlog::error("{}", store->unloaded_why_);
  }
  for (auto& row : rows) {
    Pin pin;
    static_cast<PinRow&>(pin) = std::move(row);
    store->pins_.emplace(key(pin.server, pin.tool), std::move(pin));
  }
  store->writer_ = std::make_unique<asio::thread_pool>(1);
  return store;
}

void PinStore::follow(const std::string& url, std::chrono::milliseconds timeout) {
  follower_ = follow_pg_pins(ex_, url, timeout, [weak = weak_from_this()](std::vector<PinRow>&& rows) {
    if (auto self = weak.lock()) {
      self->merge(std::move(rows));
    }
  });
}

PinStore::~PinStore() {
  if (follower_) {
    follower_->stop();
  }
  if (backend_) {
    backend_->stop();
  }
  if (writer_) {
    writer_->join();
  }
}

bool PinStore::usable(std::string& detail) const {
  if (!loaded_) {
    detail = unloaded_why_;
    return false;
  }
  if (follower_) {
    detail = follower_->up() ? follower_->where() + ": up"
                             : fmt::format("{}: down: {}", follower_->where(), follower_->why());
    return follower_->up();
  }
  detail = path_;
  return true;
}

void PinStore::write(PinWrite kind, const Pin& pin, std::string expect) {
  // The writer holds no reference to the store: it is the loop that ends the store's life.
  asio::post(*writer_, [backend = backend_.get(), kind, row = static_cast<const PinRow&>(pin),
                        expect = std::move(expect), weak = weak_from_this(), ex = ex_] {
    auto stored = backend->write(kind, row, expect);
    if (stored && ex) {
      asio::post(ex, [weak, stored = std::move(*stored)]() mutable {
        if (auto self = weak.lock()) {
          std::vector<PinRow> rows;
          rows.push_back(std::move(stored));
          self->merge(std::move(rows));
        }
      });
    }
  });
}

void PinStore::flush() {
  std::promise<void> done;
  auto f = done.get_future();
  asio::post(*writer_, [&done] { done.set_value(); });
  f.wait();
}

void PinStore::merge(std::vector<PinRow>&& rows) {
  std::set<std::string> touched;
  for (auto& row : rows) {
    auto [it, fresh] = pins_.try_emplace(key(row.server, row.tool));
    Pin& pin = it->second;
    if (!fresh && row.changed <= pin.changed) {
      continue;
    }
    // What matters here: a quarantine set or cleared, or another pin for a tool listed here.
    const bool matters = pin.pending_hash != row.pending_hash ||
                         (!pin.listed_hash.empty() && pin.hash != row.hash);
    static_cast<PinRow&>(pin) = std::move(row);
    if (matters) {
      touched.insert(pin.server);
    }
  }
  if (!loaded_) {
    loaded_ = true;
    unloaded_why_.clear();
    spdlog::info("tool pins: the store is read ({} pins)", pins_.size());
    for (const auto& [server, listed] : last_) {
      touched.insert(server);
    }
  }
  for (const auto& server : touched) {
    if (auto it = last_.find(server); it != last_.end()) {
      screen_all(server, it->second);
    }
    if (on_change_) {
      on_change_(server);
    }
  }
}

std::size_t PinStore::screen(const std::string& server,
                             const std::shared_ptr<const json::array>& tools, bool strict) {
  if (!tools) {
    return 0;
  }
  auto last = last_.find(server);
  if (last != last_.end() && last->second.tools == tools) {
    return 0;  // the same list as last time: nothing new to see
  }
  Listed& listed = last_[server];
  listed = {tools, strict};
  return loaded_ ? screen_all(server, listed) : 0;
}

std::size_t PinStore::screen_all(const std::string& server, const Listed& listed) {
  // Strict: once a server's tools are pinned, its tool set is pinned too.
  const std::string prefix = key(server, "");
  auto first = pins_.lower_bound(prefix);
  const bool set_pinned = listed.strict && first != pins_.end() &&
                          std::string_view(first->first).starts_with(prefix);
  std::size_t quarantined = 0;
  for (const auto& item : *listed.tools) {
    const auto* t = item.if_object();
    const auto* name = t != nullptr ? t->if_contains("name") : nullptr;
    if (name != nullptr && name->is_string() &&
        screen_tool(server, std::string(name->get_string()), *t, set_pinned)) {
      ++quarantined;
    }
  }
  return quarantined;
}

std::string PinStore::why_held(const Pin& pin, const std::string& definition,
                               const std::string& poison, bool added) {
  if (!pin.hash.empty()) {
    return fmt::format("its {} changed since it was pinned{}{}",
                       changed_fields(pin.definition, definition),
                       poison.empty() ? "" : ", and the new definition ", poison);
  }
  if (added) {
    return fmt::format("it is new on a server whose tool set is pinned (pins: strict){}{}",
                       poison.empty() ? "" : ", and its description ", poison);
  }
  if (poison.empty()) {
    return fmt::format("another replica holds it: {}", pin.reason);
  }
  return "its description " + poison;
}

void PinStore::grow_legacy_pin(Pin& pin, const json::object& t, const std::string& hash,
                               const std::string& definition) {
  if (pin.hash.empty() || pin.hash == hash || !legacy_pin(pin.definition) ||
      pin.hash != tool_hash(t, nullptr, true)) {
    return;
  }
  spdlog::info("tool pins: {}/{}: the pin now covers its title and annotations too", pin.server,
               pin.tool);
  std::string before = std::exchange(pin.hash, hash);
  pin.definition = definition;
  write(PinWrite::upgrade, pin, std::move(before));
}

bool PinStore::screen_tool(const std::string& server, const std::string& tool,
                           const json::object& t, bool set_pinned) {
  auto [it, fresh] = pins_.try_emplace(key(server, tool));
  Pin& pin = it->second;
  if (fresh) {
    pin.server = server;
    pin.tool = tool;
  }
  if (shared_) {
    return screen_shared(pin, t, fresh, set_pinned);
  }
  std::string definition;
  const std::string hash = tool_hash(t, &definition);
  grow_legacy_pin(pin, t, hash, definition);
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
    write(PinWrite::pin, pin);
    return false;
  }
  pin.pending_hash = hash;
  pin.reason = why_held(pin, definition, poison, added);
  pin.pending_definition = std::move(definition);
  pin.seen_ms = unix_ms();
  spdlog::warn("tool pins: {}/{} is quarantined: {}; approve it with `mcpgw tools approve {} "
               "{}`", server, tool, pin.reason, server, tool);
  return true;
}

/// Shared: the pin and a quarantine belong to the cluster; whether this replica holds the tool
/// depends on what its own server lists (`listed_hash`), so a definition approved anywhere is
/// served wherever it is listed, and any other is held here.
bool PinStore::screen_shared(Pin& pin, const json::object& t, bool fresh, bool set_pinned) {
  std::string definition;
  const std::string hash = tool_hash(t, &definition);
  pin.listed_hash = hash;
  grow_legacy_pin(pin, t, hash, definition);
  if (!pin.hash.empty() && pin.hash == hash) {
    pin.local_reason.clear();
    return false;
  }
  const std::string poison = poisoned(t);
  const bool added = fresh && set_pinned;
  if (pin.hash.empty() && pin.pending_hash.empty() && poison.empty() && !added) {
    pin.hash = hash;  // first sight, here and everywhere: pinned unless another replica was first
    pin.definition = std::move(definition);
    pin.pinned_ms = unix_ms();
    write(PinWrite::pin, pin);
    return false;
  }
  const bool newly = pin.local_reason.empty();
  pin.local_reason = why_held(pin, definition, poison, added);
  if (pin.pending_hash.empty()) {
    // The cluster's quarantine: the other replicas hear of it. One waits at a time.
    pin.pending_hash = hash;
    pin.pending_definition = std::move(definition);
    pin.reason = pin.local_reason;
    pin.seen_ms = unix_ms();
    write(PinWrite::quarantine, pin);
  }
  if (newly) {
    spdlog::warn("tool pins: {}/{} is quarantined: {}; approve it with `mcpgw tools approve "
                 "{} {}`", pin.server, pin.tool, pin.local_reason, pin.server, pin.tool);
  }
  return newly;
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
  if (!loaded_) {
    return &unloaded_why_;
  }
  auto it = pins_.find(key(server, tool));
  if (it == pins_.end()) {
    return nullptr;
  }
  const Pin& pin = it->second;
  if (shared_ && !pin.listed_hash.empty()) {
    return pin.local_reason.empty() ? nullptr : &pin.local_reason;
  }
  return pin.pending_hash.empty() ? nullptr : &pin.reason;
}

bool PinStore::approve(const std::string& server, std::string_view tool) {
  auto it = pins_.find(key(server, tool));
  if (it == pins_.end() || it->second.pending_hash.empty()) {
    return false;
  }
  Pin& pin = it->second;
  std::string approved = pin.pending_hash;
  pin.hash = std::move(pin.pending_hash);
  pin.definition = std::move(pin.pending_definition);
  pin.pending_hash.clear();
  pin.pending_definition.clear();
  pin.reason.clear();
  pin.pinned_ms = unix_ms();
  write(PinWrite::approve, pin, std::move(approved));
  if (auto l = last_.find(server); shared_ && l != last_.end()) {
    screen_all(server, l->second);  // whether this replica's server lists what was approved
  }
  return true;
}

json::array PinStore::list() const {
  json::array out;
  for (const auto& [k, pin] : pins_) {
    const bool held = !pin.pending_hash.empty() || !pin.local_reason.empty();
    json::object o;
    o["server"] = pin.server;
    o["tool"] = pin.tool;
    o["status"] = held ? "quarantined" : "pinned";
    if (!pin.hash.empty()) {
      o["hash"] = pin.hash;
      o["pinned"] = pin.pinned_ms;
    }
    if (!pin.pending_hash.empty()) {
      o["reason"] = pin.reason;
      o["newHash"] = pin.pending_hash;
      o["seen"] = pin.seen_ms;
    } else if (held) {
      o["reason"] = pin.local_reason;
      o["newHash"] = pin.listed_hash;
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace mcpgw::gate
