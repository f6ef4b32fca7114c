// The "inspect" filter: detectors over every string of a call's arguments and of its result.
#include "gate/detect.hpp"
#include "gate/filters.hpp"
#include "gate/walk.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

namespace mcpgw::gate {

namespace {

enum class Action : std::uint8_t { off, log, redact, approve, block };
constexpr std::string_view kActions[] = {"off", "log", "redact", "approve", "block"};

std::optional<Action> parse_action(std::string_view s) {
  for (std::size_t i = 0; i < std::size(kActions); ++i) {
    if (kActions[i] == s) {
      return static_cast<Action>(i);
    }
  }
  return std::nullopt;
}

/// What to do with each detector's findings, in one direction.
struct Policy {
  std::vector<Action> action;  ///< by detector
  std::vector<bool> enabled;   ///< action != off
  Detectors::Coverage cover;  ///< Detectors::coverage(enabled)
  bool any = false;
};

struct InspectConfig {
  std::unique_ptr<Detectors> own;  ///< with custom rules; else the gate's built-in set
  const Detectors* detectors = nullptr;
  Policy arguments, results;
};

constexpr std::string_view kArguments = "the arguments";
constexpr std::string_view kResult = "the result";
constexpr std::string_view kAnswer = "the answer";

struct Found {
  TextField* field;
  std::vector<Finding> findings;
};

class InspectFilter final : public Filter {
 public:
  explicit InspectFilter(std::shared_ptr<const InspectConfig> cfg) : cfg_(std::move(cfg)) {}

  Outcome request(Call& call) override {
    if (!cfg_->arguments.any || call.params == nullptr) {
      return Outcome::pass();
    }
    auto* args = call.params->if_contains("arguments");
    if (args == nullptr) {
      return Outcome::pass();
    }
    return inspect(call, *args, cfg_->arguments, kArguments);
  }

  /// What the client answers a server's own request (a form, a completion) goes to that server
  /// like arguments do.
  Outcome answer(Call& call, json::object& reply) override {
    auto* result = reply.if_contains("result");
    if (!cfg_->arguments.any || result == nullptr) {
      return Outcome::pass();
    }
    Outcome o = inspect(call, *result, cfg_->arguments, kAnswer);
    if (o.kind == Outcome::Kind::approve) {
      o.kind = Outcome::Kind::deny;  // nobody can be asked while the server waits
    }
    return o;
  }

  Outcome result(Call& call, json::object& reply) override {
    if (!cfg_->results.any) {
      return Outcome::pass();
    }
    auto* result = reply.if_contains("result");
    if (result == nullptr) {
      return Outcome::pass();
    }
    return inspect(call, *result, cfg_->results, kResult);
  }

 private:
  Outcome inspect(Call& call, json::value& root, const Policy& policy, std::string_view what) {
    const Detectors& d = *cfg_->detectors;
    auto walked = text_fields(root);  // every string, blobs of text decoded
    std::vector<std::string_view> texts;
    texts.reserve(walked.fields.size());
    for (const auto& f : walked.fields) {
      texts.push_back(f.text());
    }
    if (!d.may_find(texts, policy.enabled, policy.cover)) {
      return Outcome::pass();  // the usual case: one pass over all the strings found nothing
    }
    std::vector<Found> found;
    std::vector<Finding> scratch;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      scratch.clear();
      d.scan(texts[i], policy.enabled, scratch);
      if (!scratch.empty()) {
        found.push_back({&walked.fields[i], scratch});
      }
    }
    if (found.empty()) {
      return Outcome::pass();
    }
    if (what == kResult) {
      remember_secrets(call, found);
    }
    Action worst = Action::off;
    std::map<Action, std::vector<std::string_view>> found_by;  // action → its detectors' names
    for (const auto& f : found) {
      for (const auto& x : f.findings) {
        const Action a = policy.action[x.detector];
        worst = std::max(worst, a);
        auto& names = found_by[a];
        if (std::find(names.begin(), names.end(), d.name(x.detector)) == names.end()) {
          names.push_back(d.name(x.detector));
        }
      }
    }
    std::map<Action, std::string> by_action;
    for (const auto& [a, names] : found_by) {
      by_action[a] = fmt::format("{}", fmt::join(names, ", "));
    }
    // The reason names what caused the decision (the findings with the worst action).
    const std::string& names = by_action[worst];
    const std::string reason = fmt::format("{} of {} {} {}", what, call.source,
                                           what == kArguments ? "contain" : "contains", names);
    if (auto it = by_action.find(Action::redact); it != by_action.end() && worst != Action::block) {
      redact_found(call, found, policy, it->second, what);
    }
    if (auto it = by_action.find(Action::log); it != by_action.end()) {
      call.decisions.push_back(fmt::format("inspect: found {} in {}", it->second, what));
      spdlog::info("gate {} {} scope {}: inspect found {} in {}", call.principal, call.source,
                   call.scope->id, it->second, what);
    }
    if (worst == Action::block) {
      return Outcome::deny(reason);
    }
    if (worst == Action::approve) {
      return Outcome::approve(reason);
    }
    return Outcome::pass();
  }

  /// Replaces what the detectors set to "redact" found, and says so.
  void redact_found(Call& call, std::vector<Found>& found, const Policy& policy,
                    std::string_view names, std::string_view what) {
    for (auto& f : found) {
      std::vector<Finding> mine;
      for (const auto& x : f.findings) {
        if (policy.action[x.detector] == Action::redact) {
          mine.push_back(x);
        }
      }
      if (!mine.empty() && !shadow) {
        f.field->set(redact(f.field->text(), std::move(mine), *cfg_->detectors));
      }
    }
    call.decisions.push_back(fmt::format("inspect: {}redacted {} in {}",
                                         shadow ? "shadow: would have " : "", names, what));
  }

  /// Secrets a detector found in a result are values the scope has read (for the taint
  /// filter's value-level flow check), wherever they came from.
  void remember_secrets(Call& call, const std::vector<Found>& found) const {
    const Detectors& d = *cfg_->detectors;
    for (const auto& f : found) {
      const std::string_view text = f.field->text();
      for (const auto& x : f.findings) {
        const Group g = d.group(x.detector);
        if (g == Group::secrets || g == Group::entropy) {
          call.scope->values.remember(text.substr(x.begin, x.end - x.begin), call.source);
        }
      }
    }
  }

  std::shared_ptr<const InspectConfig> cfg_;
};

/// Reads "arguments" or "results": {group or detector or rule name: action}.
void read_policy(config::ObjectReader& s, std::string_view key, const Detectors& d, Policy& p) {
  const auto* v = s.get(key);
  if (v == nullptr) {
    return;
  }
  if (!v->is_object()) {
    s.error(key, "expected an object of {detector or group: action}");
    return;
  }
  // Groups first, then single detectors, whatever the order in the file.
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& kv : v->get_object()) {
      const std::string_view name = kv.key();
      std::optional<Group> group;
      for (Group g : {Group::secrets, Group::entropy, Group::pii, Group::injection,
                      Group::custom}) {
        if (to_string(g) == name) group = g;
      }
      const int detector = d.find(name);
      if (!group && detector < 0) {
        if (pass == 0) {
          s.error(fmt::format("{}.{}", key, name),
                  "unknown detector (groups: secrets, entropy, pii, injection, custom; or a "
                  "detector's or rule's name)");
        }
        continue;
      }
      if ((pass == 0) != group.has_value()) {
        continue;
      }
      const auto action = kv.value().is_string()
                              ? parse_action(kv.value().get_string())
                              : std::nullopt;
      if (!action) {
        s.error(fmt::format("{}.{}", key, name),
                "expected one of: off, log, redact, approve, block");
        continue;
      }
      for (std::size_t i = 0; i < d.size(); ++i) {
        const auto idx = static_cast<std::uint16_t>(i);
        if (group ? d.group(idx) == *group : d.name(idx) == name) {
          p.action[i] = *action;
        }
      }
    }
  }
}

/// A custom rule's action, and the directions it applies to.
struct RuleAction {
  Action action = Action::block;
  bool arguments = true, results = true;
};

/// Reads a rule's keys other than "name" and "pattern": "action" and "on".
RuleAction read_rule_action(config::ObjectReader& s, const std::string& at,
                            const json::object& o) {
  RuleAction ra;
  for (const auto& kv : o) {
    const std::string_view k = kv.key();
    const auto* str = kv.value().if_string();
    if (k == "name" || k == "pattern") {
      continue;
    }
    if (k == "action") {
      auto a = str != nullptr ? parse_action(*str) : std::nullopt;
      if (!a) {
        s.error(at + ".action", "expected one of: off, log, redact, approve, block");
      } else {
        ra.action = *a;
      }
    } else if (k == "on") {
      if (str == nullptr || (*str != "arguments" && *str != "results" && *str != "both")) {
        s.error(at + ".on", "expected \"arguments\", \"results\" or \"both\"");
      } else {
        ra.arguments = *str != "results";
        ra.results = *str != "arguments";
      }
    } else {
      s.error(fmt::format("{}.{}", at, k),
              "unknown key (expected one of: name, pattern, action, on)");
    }
  }
  return ra;
}

/// Reads "rules": [{name, pattern, action, on}]; a rule without a name or pattern is skipped.
void read_rules(config::ObjectReader& s, std::vector<CustomRule>& rules,
                std::vector<RuleAction>& rule_actions) {
  const auto* v = s.get("rules");
  if (v == nullptr) {
    return;
  }
  if (!v->is_array()) {
    s.error("rules", "expected an array of {name, pattern, action, on}");
    return;
  }
  std::size_t i = 0;
  for (const auto& item : v->get_array()) {
    const std::string at = fmt::format("rules[{}]", i++);
    const auto* o = item.if_object();
    const auto* name = o != nullptr ? o->if_contains("name") : nullptr;
    const auto* pattern = o != nullptr ? o->if_contains("pattern") : nullptr;
    if (name == nullptr || !name->is_string() || name->get_string().empty() ||
        pattern == nullptr || !pattern->is_string()) {
      s.error(at, "a rule needs a \"name\" and a \"pattern\" (RE2 syntax)");
      continue;
    }
    const RuleAction ra = read_rule_action(s, at, *o);
    rules.push_back({std::string(name->get_string()), std::string(pattern->get_string())});
    rule_actions.push_back(ra);
  }
}

/// An error for each rule named like a built-in detector.
void check_rule_names(config::ObjectReader& s, const Detectors& detectors,
                      const std::vector<CustomRule>& rules) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const int first = detectors.find(rules[i].name);
    if (first >= 0 && detectors.group(static_cast<std::uint16_t>(first)) != Group::custom) {
      s.error(fmt::format("rules[{}].name", i),
              fmt::format("\"{}\" is a built-in detector's name", rules[i].name));
    }
  }
}

/// The actions before the settings: by each built-in detector's group, then the rules' own.
void set_default_actions(const Detectors& detectors, const std::vector<RuleAction>& rule_actions,
                         InspectConfig& cfg) {
  const std::size_t n = detectors.size();
  cfg.arguments.action.assign(n, Action::off);
  cfg.results.action.assign(n, Action::off);
  for (std::size_t i = 0; i < n; ++i) {
    switch (detectors.group(static_cast<std::uint16_t>(i))) {
      case Group::secrets:
        cfg.arguments.action[i] = Action::block;
        cfg.results.action[i] = Action::log;
        break;
      case Group::entropy:
        cfg.arguments.action[i] = Action::log;
        break;
      case Group::pii:
        cfg.arguments.action[i] = Action::log;
        cfg.results.action[i] = Action::log;
        break;
      case Group::injection:
        cfg.results.action[i] = Action::log;
        break;
      case Group::custom:
        break;
    }
  }
  // Custom rules: built-ins come first, then the rules in order.
  const std::size_t first_rule = n - rule_actions.size();
  for (std::size_t i = 0; i < rule_actions.size(); ++i) {
    if (rule_actions[i].arguments) cfg.arguments.action[first_rule + i] = rule_actions[i].action;
    if (rule_actions[i].results) cfg.results.action[first_rule + i] = rule_actions[i].action;
  }
}

/// Fills `enabled`, `cover` and `any` from the policy's actions.
void enable(Policy& p, const Detectors& d) {
  const std::size_t n = d.size();
  p.enabled.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    p.enabled[i] = p.action[i] != Action::off;
    p.any = p.any || p.enabled[i];
  }
  p.cover = d.coverage(p.enabled);
}

}  // namespace

std::optional<FilterFactory> make_inspect_filter(const config::FilterConfig& fc, Gate& gate,
                                                 config::Diagnostics& diag) {
  const std::size_t errors = diag.errors.size();
  config::ObjectReader s(fc.settings, fc.path, diag);
  expect_common_keys(s);
  std::vector<CustomRule> rules;
  std::vector<RuleAction> rule_actions;
  read_rules(s, rules, rule_actions);
  std::string error;
  std::unique_ptr<Detectors> own;
  if (!rules.empty()) {
    own = Detectors::create(rules, error);
    if (!own) {
      s.error("rules", error);
      return std::nullopt;
    }
  }
  const Detectors* detectors = own ? own.get() : &gate.detectors();
  check_rule_names(s, *detectors, rules);

  auto cfg = std::make_shared<InspectConfig>();
  set_default_actions(*detectors, rule_actions, *cfg);
  read_policy(s, "arguments", *detectors, cfg->arguments);
  read_policy(s, "results", *detectors, cfg->results);
  enable(cfg->arguments, *detectors);
  enable(cfg->results, *detectors);
  s.finish();
  if (diag.errors.size() != errors) {
    return std::nullopt;
  }
  cfg->own = std::move(own);
  cfg->detectors = detectors;
  std::shared_ptr<const InspectConfig> shared = std::move(cfg);
  return FilterFactory([shared] { return std::make_unique<InspectFilter>(shared); });
}

}  // namespace mcpgw::gate
