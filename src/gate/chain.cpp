#include "gate/chain.hpp"

#include "common/metrics.hpp"
#include "common/clock.hpp"
#include "access/audit.hpp"
#include "common/random.hpp"
#include "gate/filters.hpp"
#include "gate/pins.hpp"
#include "gate/preview.hpp"
#include "gate/shared_approvals.hpp"
#include "jsonrpc/message.hpp"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace mcpgw::gate {

namespace {

using Maker = std::optional<FilterFactory> (*)(const config::FilterConfig&, Gate&,
                                               config::Diagnostics&);

struct Known {
  std::string_view type;
  Maker make;
};
constexpr Known kFilters[] = {
    {"cop", make_cop_filter},
    {"fence", make_fence_filter},
    {"inspect", make_inspect_filter},
    {"pin", make_pin_filter},
    {"taint", make_taint_filter},
};

/// The default chain when `gateway.security` names no filters. Order matters: requests cross
/// it left to right (a quarantined tool is refused before anything else looks at the call, a
/// blocked secret before anyone is asked to approve); results cross it right to left, so
/// "fence" comes first to wrap last, after every other filter saw the text as it came.
constexpr std::string_view kDefaultChain[] = {"fence", "pin", "inspect", "taint"};

}  // namespace

// ---------------------------------------------------------------------------------------------

std::shared_ptr<Approval> Approvals::open(const Call& call, const std::string& reason,
                                         std::string preview) {
  auto a = std::make_shared<Approval>();
  a->id = random_hex(8);
  a->principal = call.principal;
  a->session = call.session;
  a->scope = call.scope != nullptr ? call.scope->id : std::string();
  a->source = call.source;
  a->reason = reason;
  a->created_ms = unix_ms();
  a->arguments = std::move(preview);
  a->decided = std::make_unique<Event>(ex_);
  pending_[a->id] = a;
  return a;
}

bool Approvals::decide(std::string_view id, bool approve) {
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second->decision) {
    return false;
  }
  it->second->decision = approve;
  it->second->decided->set();
  return true;
}

void Approvals::close(const std::shared_ptr<Approval>& a) { pending_.erase(a->id); }

json::object approval_json(const Approval& a) {
  json::object o;
  o["id"] = a.id;
  o["principal"] = a.principal;
  o["session"] = a.session;
  o["scope"] = a.scope;
  o["target"] = a.source;
  o["reason"] = a.reason;
  o["arguments"] = a.arguments;
  o["created"] = a.created_ms;
  return o;
}

json::array Approvals::list() const {
  json::array out;
  for (const auto& [id, a] : pending_) {
    out.push_back(approval_json(*a));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

std::string read_admin_token(const std::string& env, const std::string& file) {
  std::string token;
  if (!env.empty()) {
    if (const char* v = std::getenv(env.c_str()); v != nullptr) {
      token = v;
    }
  }
  if (token.empty() && !file.empty()) {
    std::ifstream in(file);
    std::getline(in, token);
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  return token;
}

Gate::Gate(const config::SecurityConfig& cfg, asio::any_io_executor ex)
    : cfg_(cfg), ex_(ex), approvals_(ex),
      admin_token_(read_admin_token(cfg_.admin_token_env, cfg_.admin_token_file)) {}

Gate::~Gate() {
  if (pins_) {
    pins_->on_change(nullptr);  // sessions' filters may keep the store a while longer
  }
}

const Detectors& Gate::detectors() {
  if (!detectors_) {
    std::string error;
    detectors_ = Detectors::create({}, error);
    if (!detectors_) {
      throw std::logic_error("built-in detectors: " + error);
    }
  }
  return *detectors_;
}

std::unique_ptr<Gate> Gate::create(const config::Config& cfg, asio::any_io_executor ex,
                                   config::Diagnostics& diag, bool check_only) {
  const auto& sec = cfg.gateway.security;
  if (!sec.enabled) {
    return nullptr;
  }
  auto gate = std::make_unique<Gate>(sec, ex);
  gate->check_only_ = check_only;
  if (!gate->make_factories(sec, diag, gate->factories_)) {
    return nullptr;
  }
  return gate;
}

bool Gate::reconfigure(const config::Config& cfg, config::Diagnostics& diag) {
  const auto& sec = cfg.gateway.security;
  if (sec == cfg_) {
    return true;
  }
  config::SecurityConfig before = std::move(cfg_);
  auto pins_before = pins_;
  cfg_ = sec;  // the factories read the gate's settings (the pin store's path)
  Factories made;
  if (!make_factories(sec, diag, made)) {
    cfg_ = std::move(before);
    pins_ = std::move(pins_before);
    return false;
  }
  factories_ = std::move(made);
  admin_token_ = read_admin_token(cfg_.admin_token_env, cfg_.admin_token_file);
  ++generation_;
  return true;
}

bool Gate::make_factories(const config::SecurityConfig& sec, config::Diagnostics& diag,
                          Factories& out) {
  std::vector<config::FilterConfig> filters = sec.filters;
  if (filters.empty()) {
    std::size_t i = 0;
    for (auto type : kDefaultChain) {
      config::FilterConfig fc;
      fc.type = std::string(type);
      fc.path = fmt::format("gateway.security.filters[{}] (default)", i++);
      filters.push_back(std::move(fc));
    }
  }
  const std::size_t errors = diag.errors.size();
  for (auto& fc : filters) {
    const Known* known = nullptr;
    for (const auto& k : kFilters) {
      if (k.type == fc.type) {
        known = &k;
      }
    }
    if (known == nullptr) {
      std::string names;
      for (const auto& k : kFilters) {
        names += fmt::format("{}{}", names.empty() ? "" : ", ", k.type);
      }
      diag.error(fc.path + ".type", fmt::format("unknown filter \"{}\" (expected one of: {})",
                                                fc.type, names));
      continue;
    }
    if (auto factory = known->make(fc, *this, diag)) {
      out.emplace_back(fc, std::move(*factory));
    }
  }
  return diag.errors.size() == errors;
}

std::unique_ptr<Chain> Gate::new_chain() {
  std::vector<std::unique_ptr<Filter>> filters;
  filters.reserve(factories_.size());
  for (const auto& [fc, make] : factories_) {
    auto f = make();
    f->type = fc.type;
    f->shadow = fc.shadow;
    filters.push_back(std::move(f));
  }
  return std::make_unique<Chain>(*this, std::move(filters), generation_);
}

bool Chain::current(const Gate& gate) const noexcept {
  return &gate_ == &gate && generation_ == gate.generation();
}

std::string Gate::filter_names() const {
  std::string out;
  for (const auto& [fc, make] : factories_) {
    out += fmt::format("{}{}{}", out.empty() ? "" : " → ", fc.type, fc.shadow ? " (shadow)" : "");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

namespace {

/// A filter that did not pass a call: what it did (passes are not counted).
void count_decision(std::string_view filter, std::string_view action) {
  static auto& family = metrics::registry().counter(
      "mcpgw_gate_decisions_total",
      "Security gate decisions other than pass, by filter and action", {"filter", "action"});
  family.at({filter, action}).inc();
}

}  // namespace

Chain::Next Chain::on_request(Filter& f, Call& call, const Outcome& o) {
  if (o.kind == Outcome::Kind::pass) {
    return Next::go_on;
  }
  const char* verb = o.kind == Outcome::Kind::deny ? "deny" : "approval needed";
  if (f.shadow) {
    count_decision(f.type, o.kind == Outcome::Kind::deny ? "shadow_deny" : "shadow_approval");
    call.decisions.push_back(fmt::format("{}: shadow: would {}: {}", f.type,
                                         o.kind == Outcome::Kind::deny ? "deny" : "ask approval",
                                         o.reason));
    spdlog::info("gate [shadow] {} {} scope {}: {} {}: {}", call.principal, call.source,
                 call.scope->id, f.type, verb, o.reason);
    return Next::go_on;
  }
  spdlog::info("gate {} {} scope {}: {} {}: {}", call.principal, call.source, call.scope->id,
               f.type, verb, o.reason);
  if (o.kind == Outcome::Kind::deny) {
    count_decision(f.type, "deny");
    call.decisions.push_back(fmt::format("{}: deny: {}", f.type, o.reason));
    return Next::stop;
  }
  return Next::ask;
}

std::optional<Outcome> Chain::request_now(Call& call, Step& at) {
  for (; at.next < filters_.size(); ++at.next) {
    Filter& f = *filters_[at.next];
    if (f.asynchronous()) {
      return std::nullopt;
    }
    Outcome o = f.request(call);
    switch (on_request(f, call, o)) {
      case Next::go_on: break;
      case Next::stop: return o;
      case Next::ask: at.ask = std::move(o); return std::nullopt;
    }
  }
  return Outcome::pass();
}

asio::awaitable<Outcome> Chain::request(Call& call, Step at) {
  for (;;) {
    if (auto done = request_now(call, at)) {
      co_return std::move(*done);
    }
    Filter& f = *filters_[at.next];
    Outcome o;
    if (at.ask) {
      o = std::move(*at.ask);
      at.ask.reset();
    } else {
      o = co_await f.on_request(call);
      const Next next = on_request(f, call, o);
      if (next == Next::stop) {
        co_return o;
      }
      if (next == Next::go_on) {
        ++at.next;
        continue;
      }
    }
    std::string why_not;
    const bool approved = co_await ask_human(call, o.reason, why_not);
    count_decision(f.type, approved ? "approved" : "approval_refused");
    call.decisions.push_back(fmt::format("{}: approval: {}: {}", f.type,
                                         approved ? "approved" : why_not, o.reason));
    if (!approved) {
      co_return Outcome::deny(fmt::format("{} ({})", o.reason, why_not));
    }
    ++at.next;
  }
}

Chain::Next Chain::on_result(Filter& f, Call& call, const Outcome& o) {
  if (o.kind == Outcome::Kind::pass) {
    return Next::go_on;
  }
  if (f.shadow) {
    count_decision(f.type, o.kind == Outcome::Kind::deny ? "shadow_withhold" : "shadow_approval");
    call.decisions.push_back(fmt::format(
        "{}: shadow: would {} the result: {}", f.type,
        o.kind == Outcome::Kind::deny ? "withhold" : "ask approval for", o.reason));
    spdlog::info("gate [shadow] {} {} scope {}: {} would {} the result: {}", call.principal,
                 call.source, call.scope->id, f.type,
                 o.kind == Outcome::Kind::deny ? "withhold" : "hold", o.reason);
    return Next::go_on;
  }
  if (o.kind == Outcome::Kind::approve) {
    return Next::ask;
  }
  count_decision(f.type, "withheld");
  call.decisions.push_back(fmt::format("{}: result withheld: {}", f.type, o.reason));
  spdlog::info("gate {} {} scope {}: {} withheld the result: {}", call.principal, call.source,
               call.scope->id, f.type, o.reason);
  return Next::stop;
}

void Chain::withhold(Call& call, json::object& reply, std::string_view why) {
  const json::value id = reply.contains("id") ? reply.at("id") : json::value();
  reply = refusal(call, id, fmt::format("the result of {} was withheld: {}", call.source, why));
}

bool Chain::result_now(Call& call, json::object& reply, Step& at) {
  for (; at.next < filters_.size(); ++at.next) {
    Filter& f = *filters_[filters_.size() - 1 - at.next];
    if (f.asynchronous()) {
      return false;
    }
    Outcome o = f.result(call, reply);
    switch (on_result(f, call, o)) {
      case Next::go_on: break;
      case Next::stop: withhold(call, reply, o.reason); return true;
      case Next::ask: at.ask = std::move(o); return false;
    }
  }
  return true;
}

asio::awaitable<void> Chain::result(Call& call, json::object& reply, Step at) {
  while (!result_now(call, reply, at)) {
    Filter& f = *filters_[filters_.size() - 1 - at.next];
    Outcome o;
    if (at.ask) {
      o = std::move(*at.ask);
      at.ask.reset();
    } else {
      o = co_await f.on_result(call, reply);
      const Next next = on_result(f, call, o);
      if (next == Next::stop) {
        withhold(call, reply, o.reason);
        co_return;
      }
      if (next == Next::go_on) {
        ++at.next;
        continue;
      }
    }
    std::string why_not;
    const bool approved = co_await ask_human(call, o.reason, why_not, true);
    count_decision(f.type, approved ? "result_approved" : "result_approval_refused");
    call.decisions.push_back(fmt::format("{}: result approval: {}: {}", f.type,
                                         approved ? "approved" : why_not, o.reason));
    if (!approved) {
      const std::string why = fmt::format("{} ({})", o.reason, why_not);
      spdlog::info("gate {} {} scope {}: {} withheld the result: {}", call.principal,
                   call.source, call.scope->id, f.type, why);
      withhold(call, reply, why);
      co_return;
    }
    ++at.next;
  }
}

bool Chain::stops(Filter& f, Call& call, const Outcome& o, std::string_view what) {
  if (o.kind == Outcome::Kind::pass) {
    return false;
  }
  if (f.shadow) {
    count_decision(f.type, "shadow_refuse");
    call.decisions.push_back(fmt::format("{}: shadow: would refuse {}: {}", f.type, what, o.reason));
    spdlog::info("gate [shadow] {} {} scope {}: {} would refuse {}: {}", call.principal,
                 call.source, call.scope->id, f.type, what, o.reason);
    return false;
  }
  count_decision(f.type, "refuse");
  call.decisions.push_back(fmt::format("{}: refused {}: {}", f.type, what, o.reason));
  spdlog::info("gate {} {} scope {}: {} refused {}: {}", call.principal, call.source,
               call.scope->id, f.type, what, o.reason);
  return true;
}

Outcome Chain::server_message(Call& call, json::object& msg) {
  for (auto it = filters_.rbegin(); it != filters_.rend(); ++it) {
    Outcome o = (*it)->server_message(call, msg);
    if (stops(**it, call, o, "the message")) {
      return Outcome::deny(std::move(o.reason));
    }
  }
  return Outcome::pass();
}

Outcome Chain::answer(Call& call, json::object& reply) {
  for (auto& f : filters_) {
    Outcome o = f->answer(call, reply);
    if (stops(*f, call, o, "the answer")) {
      return Outcome::deny(std::move(o.reason));
    }
  }
  return Outcome::pass();
}

void Chain::tools_listed(const std::string& server,
                         const std::shared_ptr<const json::array>& tools) {
  for (auto& f : filters_) {
    f->on_tools(server, tools);
  }
}

bool Chain::tool_visible(const std::string& server, std::string_view tool) const {
  for (const auto& f : filters_) {
    if (!f->shadow && !f->tool_visible(server, tool)) {
      return false;
    }
  }
  return true;
}

json::object Chain::refusal(const Call& call, const json::value& id, std::string_view why) {
  json::object data;
  data["scope"] = call.scope != nullptr ? call.scope->describe() : std::string();
  data["labels"] = call.labels.describe();
  return jsonrpc::make_error(id, kGateDenied, fmt::format("mcpgw security: {}", why),
                             std::move(data));
}

asio::awaitable<bool> Chain::ask_human(Call& call, const std::string& reason,
                                       std::string& why_not, bool result) {
  const auto approver = call.labels.approver.value_or(gate_.config().approvals);
  const std::string args = approval_preview(call, gate_.detectors());
  if (call.client != nullptr && call.client->can_elicit() &&
      approver == config::Approver::client) {
    std::string question =
        result ? fmt::format("mcpgw needs your approval to pass on the result of {}.\nWhy: {}.\n"
                             "Accept to release it; decline to withhold it.", call.source, reason)
               : fmt::format("mcpgw needs your approval to call {}{}{}.\nWhy: {}.\nAccept to let "
                             "the call through; decline to refuse it.", call.source,
                             args.empty() ? "" : " with:\n", args, reason);
    auto answer = co_await call.client->elicit(std::move(question));
    if (answer == true) {
      co_return true;
    }
    why_not = answer ? "declined by the user" : "the user did not answer";
    co_return false;
  }
  auto approval = gate_.approvals().open(call, reason, args);
  const auto timeout = gate_.config().approval_timeout;
  co_await wait_for_admin(call, approval, reason);
  if (!approval->decision) {
    why_not = fmt::format("no approval within {} s", timeout.count() / 1000);
    co_return false;
  }
  if (!*approval->decision) {
    why_not = "denied by an administrator";
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> Chain::wait_for_admin(Call& call, const std::shared_ptr<Approval>& approval,
                                            const std::string& reason) {
  const auto timeout = gate_.config().approval_timeout;
  const auto deadline = Clock::now() + timeout;
  // Held by the gate as long as the call waits, even past a reload that replaces it.
  const std::shared_ptr<SharedApprovals> shared = gate_.shared_approvals();
  if (shared) {
    co_await shared->publish(*approval, unix_ms() + timeout.count());
  }
  spdlog::warn("gate: call {} by {} waits for approval {} ({}); approve or deny with `mcpgw "
               "approvals approve|deny {}` within {} s", call.source, call.principal,
               approval->id, reason, approval->id, timeout.count() / 1000);
  const std::string message = fmt::format(
      "mcpgw: {} waits for an administrator's approval (id {}): {}", call.source, approval->id,
      reason);
  constexpr auto kTell = std::chrono::seconds(5);  // how often the client hears that it waits
  auto next_tell = Clock::now();
  bool first = true;
  while (!approval->decision && Clock::now() < deadline) {
    if (call.client != nullptr && Clock::now() >= next_tell) {
      call.client->waiting(message, first);
      first = false;
      next_tell = Clock::now() + kTell;
    }
    const auto tick = shared ? std::chrono::duration_cast<Clock::duration>(SharedApprovals::kPoll)
                             : std::chrono::duration_cast<Clock::duration>(kTell);
    co_await approval->decided->wait_until(std::min(deadline, Clock::now() + tick));
    if (!approval->decision && shared) {
      if (auto d = co_await shared->decision(approval->id)) {
        approval->decision = *d;  // decided through another replica
      }
    }
  }
  gate_.approvals().close(approval);
  if (shared) {
    co_await shared->withdraw(approval->id);
  }
}

}  // namespace mcpgw::gate
