// `mcpgw tokens list|revoke`. `list` never opens a token. `revoke` forgets a user's tokens, so
// running gateways stop using them, and, when the vault key is at hand, also ends the grant at
// the authorization server (RFC 7009).
#include "app/tokens_cmd.hpp"
#include "app/vault_cli.hpp"
#include "access/vault.hpp"
#include "common/clock.hpp"
#include "upstream/oauth_revoke.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

namespace mcpgw::app {

namespace {

/// Runs `revoke_grant` on its own event loop; the error, or empty.
std::string revoke_upstream(const upstream::OAuthTokens& tokens,
                            const config::ServerConfig* server) {
  asio::io_context io;
  upstream::FetchOptions opts;
  if (server != nullptr) {
    opts.tls.ca_file = server->options.tls_ca_file;
    opts.tls.insecure = server->options.tls_insecure;
  }
  opts.deadline = Clock::now() + std::chrono::seconds(15);
  std::string error = "no answer";
  asio::co_spawn(io, upstream::revoke_grant(io.get_executor(), tokens, opts),
                 [&error](std::exception_ptr e, std::string result) {
                   error = e ? std::string("the request failed") : std::move(result);
                 });
  io.run();
  return error;
}

class TokensCommand : public Subcommand {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* cmd = app.add_subcommand("tokens", "The users' OAuth tokens for servers (list, revoke)");
    cmd->require_subcommand(1);
    list_ = cmd->add_subcommand("list", "List who has connected which server (never a token)");
    revoke_ = cmd->add_subcommand("revoke", "Forget a user's tokens for a server and revoke "
                                            "them at its authorization server: the user "
                                            "connects again on their next call");
    for (auto* c : {list_, revoke_}) {
      c->add_option("-c,--config", config_, "Read the vault's store and key from this config");
      c->add_option("--store", store_, "The store: a SQLite file, or postgres://…");
    }
    list_->add_option("--user", user_, "Only this user's tokens");
    revoke_->add_option("--user", user_, "The user: an API key's name, or jwt:SUBJECT")
        ->required();
    revoke_->add_option("--server", server_, "The server's name")->required();
    return cmd;
  }

  int run() override {
    auto setup = vault_setup(config_, store_);
    if (!setup) {
      return 2;
    }
    std::string error;
    auto backend = access::open_vault_store(setup->store, setup->timeout, error);
    if (!backend) {
      return fail(error);
    }
    return *revoke_ ? revoke(*setup, *backend) : list(*backend);
  }

 private:
  int list(access::VaultStore& store) {
    std::string error;
    auto entries = store.list(user_, error);
    if (!error.empty()) {
      return fail(error);
    }
    fmt::print("{:<24} {:<24} {}\n", "USER", "SERVER", "CONNECTED");
    for (const auto& e : entries) {
      if (e.name.starts_with("oauth:")) {
        fmt::print("{:<24} {:<24} {}\n", e.principal, e.name.substr(6), utc_minute(e.updated_at));
      }
    }
    return 0;
  }

  int revoke(const VaultSetup& setup, access::VaultStore& store) {
    const auto entry = upstream::oauth_entry_name(server_);
    std::string why_not;  // why the grant is not revoked upstream
    const auto tokens = read_tokens(setup, entry, why_not);
    std::string error;
    if (!store.remove(user_, entry, error)) {
      return fail(error.empty()
                      ? fmt::format("user {} has no tokens for server {}", user_, server_)
                      : error);
    }
    fmt::print("revoked the tokens of user {} for server {}: running gateways stop using "
               "them within seconds, and the user connects again on their next call\n",
               user_, server_);
    if (tokens) {
      const auto* server = setup.config ? setup.config->find(server_) : nullptr;
      why_not = revoke_upstream(*tokens, server);
    }
    if (!why_not.empty()) {
      fmt::print(stderr, "warning: the grant was not revoked at the authorization server ({}); "
                         "it ends when its tokens expire or the user revokes it there\n",
                 why_not);
    } else {
      fmt::print("the authorization server revoked the grant too\n");
    }
    return 0;
  }

  /// The user's tokens, opened with the vault key; nullopt with `why_not`.
  std::optional<upstream::OAuthTokens> read_tokens(const VaultSetup& setup,
                                                   const std::string& entry,
                                                   std::string& why_not) const {
    auto vault = access::open_vault(setup.vault, setup.store, setup.timeout, why_not);
    if (!vault) {
      why_not = fmt::format("the tokens could not be opened: {}", why_not);
      return std::nullopt;
    }
    auto text = vault->get(user_, entry, why_not);
    auto tokens = text ? upstream::OAuthTokens::from_json(*text) : std::nullopt;
    if (text && !tokens) {
      why_not = "the entry holds no tokens";
    }
    return tokens;
  }

  CLI::App* list_ = nullptr;
  CLI::App* revoke_ = nullptr;
  std::string config_, store_, user_, server_;
};

}  // namespace

SubcommandPtr make_tokens_command() { return std::make_unique<TokensCommand>(); }

}  // namespace mcpgw::app
