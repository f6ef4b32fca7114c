// Each user's own secrets: `${user:NAME}` in a server's env, and the sealed vault behind it.
#include "access/vault.hpp"
#include "config/config.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace mcpgw::access {
namespace {

config::EnvLookup env_with_home() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (name == "HOME_DIR") {
      return "/home/x";
    }
    return std::nullopt;
  };
}

std::optional<config::Config> parse_text(std::string_view text, config::Diagnostics& diag) {
  return config::parse(boost::json::parse(text), "/etc/mcpgw", diag, env_with_home());
}

bool has_error(const config::Diagnostics& d, std::string_view needle) {
  for (const auto& e : d.errors) {
    if (e.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string with_env(std::string_view isolation, std::string_view mode, std::string_view env,
                     std::string_view args = "[]") {
  return fmt::format(R"({{"gateway": {{"auth": {{"mode": "{}"}},
      "servers": {{"gh": {{"isolation": "{}"}}}}}},
    "mcpServers": {{"gh": {{"command": "srv", "args": {}, "env": {}}}}}}})",
                     mode, isolation, args, env);
}

TEST(UserSecrets, EnvKeepsUserValuesForLaterAndNamesThem) {
  config::Diagnostics d;
  auto cfg = parse_text(with_env("session", "keys",
                                 R"({"A": "${user:tok}", "B": "x-${user:b.2}-${HOME_DIR}",
                                     "C": "${user:tok}"})"), d);
  ASSERT_TRUE(cfg) << (d.errors.empty() ? "" : d.errors.front());
  const auto& s = cfg->servers.front();
  EXPECT_EQ(s.env.at("A"), "${user:tok}");
  EXPECT_EQ(s.env.at("B"), "x-${user:b.2}-/home/x");
  EXPECT_EQ(s.user_secrets, (std::vector<std::string>{"b.2", "tok"}));
  EXPECT_EQ(config::fill_user_refs(s.env.at("B"), {{"b.2", "V"}}), "x-V-/home/x");
  EXPECT_EQ(config::fill_user_refs("${user:none}!", {}), "!");
  EXPECT_EQ(cfg->gateway.vault.store, "/etc/mcpgw/mcpgw.vault.db");
}

TEST(UserSecrets, OnlyWhereEachCallerHasTheirOwnProcess) {
  config::Diagnostics shared;
  EXPECT_FALSE(parse_text(with_env("shared", "keys", R"({"A": "${user:tok}"})"), shared));
  EXPECT_TRUE(has_error(shared, "isolation \"session\"")) << shared.errors.front();

  config::Diagnostics anonymous;
  EXPECT_FALSE(parse_text(with_env("session", "none", R"({"A": "${user:tok}"})"), anonymous));
  EXPECT_TRUE(has_error(anonymous, "anonymous")) << anonymous.errors.front();

  config::Diagnostics in_args;
  EXPECT_FALSE(parse_text(with_env("session", "keys", "{}", R"(["--token=${user:tok}"])"),
                          in_args));
  ASSERT_EQ(in_args.errors.size(), 1u);
  EXPECT_TRUE(has_error(in_args, "env only")) << in_args.errors.front();

  config::Diagnostics bad_name;
  EXPECT_FALSE(parse_text(with_env("session", "keys", R"({"A": "${user:a b}"})"), bad_name));
  EXPECT_TRUE(has_error(bad_name, "letters, digits"));
}

class VaultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("mcpgw-vault-" + std::to_string(::getpid()) + ".db")).string();
    TearDown();
  }
  void TearDown() override {
    for (const char* ext : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_ + ext);
    }
  }
  std::unique_ptr<Vault> open(const Sealer::Key& key) {
    std::string error;
    auto store = open_vault_store(path_, std::chrono::milliseconds(1000), error);
    EXPECT_TRUE(store) << error;
    return std::make_unique<Vault>(Sealer(key), std::move(store));
  }
  /// Every byte of the database and its log.
  std::string file_bytes() const {
    std::string all;
    for (const char* ext : {"", "-wal"}) {
      std::ifstream in(path_ + ext, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      all += ss.str();
    }
    return all;
  }
  static Sealer::Key key(unsigned char b) {
    Sealer::Key k;
    k.fill(b);
    return k;
  }
  std::string path_;
};

TEST_F(VaultStoreTest, ValuesAreSealedAndOpenOnlyInTheirOwnRow) {
  auto vault = open(key(1));
  std::string error;
  ASSERT_TRUE(vault->set("alice", "tok", "ghp_alice_value_1234", error)) << error;
  ASSERT_TRUE(vault->set("bob", "tok", "ghp_bob_value_5678", error)) << error;
  EXPECT_EQ(vault->get("alice", "tok", error), "ghp_alice_value_1234");
  EXPECT_EQ(file_bytes().find("ghp_alice"), std::string::npos);
  EXPECT_EQ(vault->get("carol", "tok", error), std::nullopt);
  EXPECT_TRUE(error.empty());

  // Bob copies Alice's sealed row over his own: it does not open as his.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE user_secrets SET value = (SELECT value FROM user_secrets "
                             "WHERE principal = 'alice') WHERE principal = 'bob'",
                         nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(vault->get("bob", "tok", error), std::nullopt);
  EXPECT_NE(error.find("does not open"), std::string::npos) << error;

  error.clear();
  EXPECT_EQ(open(key(2))->get("alice", "tok", error), std::nullopt);  // another key
  EXPECT_FALSE(error.empty());
}

TEST_F(VaultStoreTest, ListsNamesAndRemoves) {
  auto vault = open(key(1));
  std::string error;
  ASSERT_TRUE(vault->set("alice", "a", "1", error));
  ASSERT_TRUE(vault->set("alice", "b", "2", error));
  ASSERT_TRUE(vault->set("bob", "a", "3", error));
  ASSERT_TRUE(vault->set("alice", "a", "4", error));  // replaces
  EXPECT_EQ(vault->list("", error).size(), 3u);
  auto mine = vault->list("alice", error);
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0].name, "a");
  EXPECT_GT(mine[0].updated_at, 0);
  EXPECT_EQ(vault->get("alice", "a", error), "4");
  EXPECT_TRUE(vault->remove("alice", "a", error));
  EXPECT_FALSE(vault->remove("alice", "a", error));
  EXPECT_TRUE(error.empty());
  EXPECT_FALSE(vault->set("alice", "no spaces", "x", error));
}

TEST_F(VaultStoreTest, TheReaderAnswersOnTheCallersLoop) {
  auto vault = open(key(1));
  std::string error;
  ASSERT_TRUE(vault->set("alice", "a", "1", error));
  auto reader = std::make_shared<VaultReader>(std::move(vault));
  boost::asio::io_context ioc;
  VaultLookup got;
  bool on_loop = false;
  const std::vector<std::string> names{"a", "b"};
  boost::asio::co_spawn(
      ioc,
      [&]() -> boost::asio::awaitable<void> {
        got = co_await reader->read("alice", names);
        on_loop = ioc.get_executor().running_in_this_thread();
      },
      boost::asio::detached);
  ioc.run_for(std::chrono::seconds(5));
  EXPECT_TRUE(on_loop);
  EXPECT_EQ(got.values, (std::map<std::string, std::string>{{"a", "1"}}));
  EXPECT_EQ(got.missing, (std::vector<std::string>{"b"}));
  EXPECT_TRUE(got.error.empty());
}

TEST(VaultKeys, FromAFileOrTheEnvironment) {
  std::string error;
  ::unsetenv("MCPGW_TEST_VAULT_KEY");
  EXPECT_FALSE(vault_keys("", "MCPGW_TEST_VAULT_KEY", error));
  EXPECT_NE(error.find("gateway.vault.keyFile"), std::string::npos) << error;
  ::setenv("MCPGW_TEST_VAULT_KEY", std::string(64, 'a').c_str(), 1);
  auto keys = vault_keys("", "MCPGW_TEST_VAULT_KEY", error);
  ASSERT_TRUE(keys) << error;
  EXPECT_EQ(keys->size(), 1u);
  ::setenv("MCPGW_TEST_VAULT_KEY", "short", 1);
  EXPECT_FALSE(vault_keys("", "MCPGW_TEST_VAULT_KEY", error));
  ::unsetenv("MCPGW_TEST_VAULT_KEY");
}

}  // namespace
}  // namespace mcpgw::access
