#include "store/migrate.hpp"

#include <fmt/format.h>

namespace mcpgw::store {

std::string migration_script(std::string_view component, const std::vector<Migration>& steps) {
  const int last = steps.empty() ? 0 : steps.back().version;
  std::string body;
  for (const auto& step : steps) {
    body += fmt::format("  IF v < {} THEN\n{}\n  END IF;\n", step.version, step.sql);
  }
  // Several statements in one simple query run as one transaction: the advisory lock is held
  // until it commits, and a failing step leaves nothing behind.
  return fmt::format(
      "SELECT pg_advisory_xact_lock(hashtext('mcpgw schema'));\n"
      "CREATE TABLE IF NOT EXISTS mcpgw_schema (component text PRIMARY KEY,"
      " version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());\n"
      "DO $mcpgw$\nDECLARE v integer;\nBEGIN\n"
      "  SELECT version INTO v FROM mcpgw_schema WHERE component = '{0}';\n"
      "  v := coalesce(v, 0);\n"
      "  IF v > {1} THEN\n"
      "    RAISE EXCEPTION 'the store''s {0} schema is at version %, newer than this mcpgw knows "
      "({1}): upgrade mcpgw', v;\n"
      "  END IF;\n"
      "{2}"
      "  INSERT INTO mcpgw_schema (component, version) VALUES ('{0}', {1})\n"
      "    ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, applied_at = now()\n"
      "    WHERE mcpgw_schema.version < EXCLUDED.version;\n"
      "END\n$mcpgw$;\n",
      component, last, body);
}

}  // namespace mcpgw::store
