// The PostgreSQL store's pure parts: URLs, redaction, the migration script, the text it takes. The connection
// itself is exercised against a real PostgreSQL by test/integration/pg_store.test.mjs.
#include "common/text.hpp"
#include "store/migrate.hpp"
#include "store/postgres.hpp"

#include <gtest/gtest.h>

namespace mcpgw::store {
namespace {

TEST(PgStore, RecognisesPostgresUrls) {
  EXPECT_TRUE(is_postgres_url("postgres://db/mcpgw"));
  EXPECT_TRUE(is_postgres_url("postgresql://u@db:5433/mcpgw?sslmode=require"));
  EXPECT_FALSE(is_postgres_url("mcpgw.db"));
  EXPECT_FALSE(is_postgres_url("/var/lib/mcpgw/postgres://x"));
}

TEST(PgStore, HidesThePasswordOnly) {
  EXPECT_EQ(redact_password("postgres://mcpgw:s3cret@db:5432/mcpgw"),
            "postgres://mcpgw:***@db:5432/mcpgw");
  EXPECT_EQ(redact_password("postgresql://mcpgw@db/mcpgw"), "postgresql://mcpgw@db/mcpgw");
  EXPECT_EQ(redact_password("postgres://db:5432/mcpgw"), "postgres://db:5432/mcpgw")
      << "a port is not a password";
  EXPECT_EQ(redact_password("postgres://u:p@ss@db/x"), "postgres://u:***@ss@db/x")
      << "up to the first '@': the rest of a password with '@' in it must be percent-encoded";
}

TEST(PgStore, MigrationScriptAppliesEachStepOnceUnderALock) {
  const std::string script = migration_script(
      "things", {{1, "CREATE TABLE t (a int);"}, {2, "ALTER TABLE t ADD b int;"}});
  EXPECT_NE(script.find("pg_advisory_xact_lock"), std::string::npos);
  EXPECT_NE(script.find("IF v < 1 THEN\nCREATE TABLE t (a int);\n  END IF;"), std::string::npos);
  EXPECT_NE(script.find("IF v < 2 THEN\nALTER TABLE t ADD b int;\n  END IF;"), std::string::npos);
  EXPECT_NE(script.find("IF v > 2 THEN"), std::string::npos) << "a newer schema is refused";
  EXPECT_NE(script.find("VALUES ('things', 2)"), std::string::npos);
  EXPECT_LT(script.find("IF v > 2"), script.find("IF v < 1")) << "refused before any step";
}

}  // namespace
}  // namespace mcpgw::store

namespace mcpgw {
namespace {

TEST(ValidUtf8, KeepsTextAndReplacesWhatADatabaseWouldRefuse) {
  EXPECT_EQ(valid_utf8("plain, ünïcode, 日本"), "plain, ünïcode, 日本");
  EXPECT_EQ(valid_utf8(std::string("a\0b", 3)), "ab") << "NUL is dropped";
  EXPECT_EQ(valid_utf8("cut \xE6\x97"), "cut \xEF\xBF\xBD\xEF\xBF\xBD")
      << "a sequence cut in the middle (an error message truncated at 500 bytes)";
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD") << "overlong";
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") << "a surrogate";
}

}  // namespace
}  // namespace mcpgw
