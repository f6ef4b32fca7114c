#include "gate/scope.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mcpgw::gate {

namespace {
constexpr std::size_t kMaxSources = 8;

void remember(std::vector<std::string>& list, std::string_view source) {
  if (list.size() < kMaxSources && std::find(list.begin(), list.end(), source) == list.end()) {
    list.emplace_back(source);
  }
}

std::string join(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) {
    out += out.empty() ? s : ", " + s;
  }
  return out;
}
}  // namespace

void Scope::mark_untrusted(std::string_view source) {
  untrusted = true;
  remember(untrusted_by, source);
}

void Scope::mark_secrets(std::string_view source) {
  secrets = true;
  remember(secrets_by, source);
}

std::string Scope::describe() const {
  if (!untrusted && !secrets) {
    return "clean";
  }
  std::string out;
  if (untrusted) {
    out = fmt::format("untrusted (read {})", join(untrusted_by));
  }
  if (secrets) {
    out += fmt::format("{}holds secrets (read {})", out.empty() ? "" : ", ", join(secrets_by));
  }
  return out;
}

ScopePtr ScopeRegistry::get(std::string_view principal, std::string_view id,
                            std::string_view session_id) {
  const bool named = !id.empty();
  const std::string_view use = named ? id : session_id;
  std::string key;
  key.reserve(principal.size() + use.size() + 3);
  key.append(principal).append(named ? "\n" : "\n#").append(use);
  auto& slot = scopes_[key];
  if (!slot) {
    slot = std::make_shared<Scope>();
    slot->principal = std::string(principal);
    slot->id = std::string(use);
    slot->named = named;
  }
  slot->last_used = Clock::now();
  return slot;
}

std::size_t ScopeRegistry::reap(Clock::time_point now, std::chrono::milliseconds idle) {
  // A session's own scope can never be named again once its session is gone.
  return std::erase_if(scopes_, [&](const auto& kv) {
    return kv.second.use_count() == 1 && (!kv.second->named || now - kv.second->last_used > idle);
  });
}

bool valid_scope_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
  });
}

}  // namespace mcpgw::gate
