// `mcpgw secrets set|list|delete`. The value of `set` is read from stdin (never from the
// command line, which every local user can see), and no command prints a value.
#include "app/secrets_cmd.hpp"
#include "app/vault_cli.hpp"
#include "access/vault.hpp"
#include "common/clock.hpp"
#include "store/postgres.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

#include <iostream>
#include <iterator>

namespace mcpgw::app {

namespace {

/// stdin to its end, one trailing newline (and a carriage return before it) dropped.
std::string read_value() {
  std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (!value.empty() && value.back() == '\n') {
    value.pop_back();
    if (!value.empty() && value.back() == '\r') {
      value.pop_back();
    }
  }
  return value;
}

class SecretsCommand : public Subcommand {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* cmd = app.add_subcommand("secrets", "Manage each user's own secrets (set, list, delete)");
    cmd->require_subcommand(1);
    set_ = cmd->add_subcommand("set", "Store a user's value for NAME; the value is read from stdin");
    list_ = cmd->add_subcommand("list", "List the entries (never their values)");
    delete_ = cmd->add_subcommand("delete", "Delete a user's entry");
    for (auto* c : {set_, list_, delete_}) {
      c->add_option("-c,--config", config_, "Read the vault's store and key from this config");
      c->add_option("--store", store_, "The store: a SQLite file, or postgres://… (default: "
                                       "gateway.vault's of --config, else mcpgw.vault.db)");
    }
    for (auto* c : {set_, delete_}) {
      c->add_option("--user", user_, "The user: an API key's name, or jwt:SUBJECT")->required();
      c->add_option("--key", name_, "The entry's name, as in ${user:NAME}")->required();
    }
    list_->add_option("--user", user_, "Only this user's entries");
    set_->add_option("--key-file", key_file_,
                     "The vault key file (default: gateway.vault.keyFile of --config, else "
                     "$MCPGW_VAULT_KEY)");
    return cmd;
  }

  int run() override {
    auto setup = vault_setup(config_, store_);
    if (!setup) {
      return 2;
    }
    if (!key_file_.empty()) {
      setup->vault.key_file = key_file_;
    }
    store_ = setup->store;
    std::string error;
    if (*list_) {
      auto backend = access::open_vault_store(store_, setup->timeout, error);
      return backend ? list(*backend) : fail(error);
    }
    auto opened = access::open_vault(setup->vault, store_, setup->timeout, error);
    if (!opened) {
      return fail(error);
    }
    return *set_ ? set(*opened) : remove(*opened);
  }

 private:
  int set(access::Vault& vault) {
    std::string value = read_value();
    std::string error;
    const bool ok = !value.empty() && vault.set(user_, name_, value, error);
    OPENSSL_cleanse(value.data(), value.size());
    if (!ok) {
      return fail(error.empty() ? "no value on stdin" : error);
    }
    fmt::print("stored \"{}\" for user {} in {}; servers that read ${{user:{}}} use it from "
               "their next start\n", name_, user_, store::redact_password(store_), name_);
    return 0;
  }

  int remove(access::Vault& vault) {
    std::string error;
    if (!vault.remove(user_, name_, error)) {
      return fail(error.empty() ? fmt::format("user {} has no entry \"{}\"", user_, name_)
                                : error);
    }
    fmt::print("deleted \"{}\" of user {}\n", name_, user_);
    return 0;
  }

  int list(access::VaultStore& store) {
    std::string error;
    auto entries = store.list(user_, error);
    if (!error.empty()) {
      return fail(error);
    }
    fmt::print("{:<24} {:<24} {}\n", "USER", "KEY", "UPDATED");
    for (const auto& e : entries) {
      if (e.name.find(':') == std::string::npos) {  // not the gateway's own (mcpgw tokens)
        fmt::print("{:<24} {:<24} {}\n", e.principal, e.name, utc_minute(e.updated_at));
      }
    }
    return 0;
  }

  CLI::App* set_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* delete_ = nullptr;
  std::string config_, store_, user_, name_, key_file_;
};

}  // namespace

SubcommandPtr make_secrets_command() { return std::make_unique<SecretsCommand>(); }

}  // namespace mcpgw::app
