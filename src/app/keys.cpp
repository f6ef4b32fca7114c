// `mcpgw keys create|list|revoke`: API keys in the gateway's store.
#include "app/serve.hpp"
#include "common/clock.hpp"
#include "common/text.hpp"
#include "access/key_store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace mcpgw::app {

namespace {

std::string join(const std::vector<std::string>& v, std::string_view empty) {
  if (v.empty()) {
    return std::string(empty);
  }
  std::string out;
  for (const auto& s : v) {
    out += out.empty() ? s : "," + s;
  }
  return out;
}


/// Whether every server a key is to be limited to is in the config (when one was given); says
/// which one is not, and which there are, when not.
bool servers_known(const std::vector<std::string>& servers,
                   const std::optional<std::vector<std::string>>& known) {
  if (!known) {
    if (!servers.empty()) {
      fmt::print(stderr, "warning: --servers is not checked against a config; pass --config to "
                         "check the names\n");
    }
    return true;
  }
  for (const auto& name : servers) {
    if (std::find(known->begin(), known->end(), name) == known->end()) {
      fmt::print(stderr, "error: --servers: no server named \"{}\" in the config (servers: {})\n",
                 name, join(*known, "none"));
      return false;
    }
  }
  return true;
}

}  // namespace

int keys_command(const KeysArgs& a) {
  std::string error;
  auto store = access::open_key_admin(a.store, error);
  if (!store) {
    fmt::print(stderr, "error: {}\n", error);
    return 1;
  }
  if (a.action == "create") {
    access::KeyRecord r;
    r.name = a.name;
    r.servers = split_list(a.servers);
    if (!servers_known(r.servers, a.known_servers)) {
      return 2;
    }
    r.tools = split_list(a.tools);
    r.deny_tools = split_list(a.deny_tools);
    if (!a.expires.empty()) {
      auto secs = access::parse_duration(a.expires);
      if (!secs) {
        fmt::print(stderr, "error: --expires: expected a duration like 30d, 12h or 90m, got \"{}\"\n",
                   a.expires);
        return 2;
      }
      r.expires_at = static_cast<std::int64_t>(std::time(nullptr)) + *secs;
    }
    if (!a.rate.empty()) {
      r.rate_per_min = access::parse_rate(a.rate);
      if (!r.rate_per_min) {
        fmt::print(stderr, "error: --rate: expected N/min, N/s or N/h, got \"{}\"\n", a.rate);
        return 2;
      }
    }
    auto key = store->create(r, error);
    if (!key) {
      fmt::print(stderr, "error: {}\n", error);
      return 1;
    }
    fmt::print("created key '{}': servers {}, tools {}, denied {}{}{}\n", r.name,
               join(r.servers, "all"), join(r.tools, "all"), join(r.deny_tools, "none"),
               r.expires_at ? ", expires " + utc_minute(*r.expires_at) : "",
               r.rate_per_min ? fmt::format(", {}/min", *r.rate_per_min) : "");
    fmt::print("the key is shown only now; store it where its user can read it:\n{}\n", *key);
    return 0;
  }
  if (a.action == "list") {
    auto keys = store->list(error);
    if (!error.empty()) {
      fmt::print(stderr, "error: {}\n", error);
      return 1;
    }
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    fmt::print("{:<20} {:<14} {:<8} {:<20} {:<20} {:<20} {:<18} {}\n", "NAME", "KEY", "STATE",
               "SERVERS", "TOOLS", "DENIED", "EXPIRES", "RATE");
    for (const auto& k : keys) {
      const char* state = k.revoked_at                          ? "revoked"
                          : (k.expires_at && *k.expires_at <= now) ? "expired"
                                                                  : "active";
      fmt::print("{:<20} {:<14} {:<8} {:<20} {:<20} {:<20} {:<18} {}\n", k.name, k.prefix + "…",
                 state, join(k.servers, "all"), join(k.tools, "all"), join(k.deny_tools, "-"),
                 k.expires_at ? utc_minute(*k.expires_at) : "never",
                 k.rate_per_min ? fmt::format("{}/min", *k.rate_per_min) : "-");
    }
    return 0;
  }
  if (a.action == "revoke") {
    if (!store->revoke(a.name, error)) {
      fmt::print(stderr, "error: {}\n", error);
      return 1;
    }
    fmt::print("revoked key '{}'; running gateways refuse it from their next request on\n", a.name);
    return 0;
  }
  return 2;
}

}  // namespace mcpgw::app
