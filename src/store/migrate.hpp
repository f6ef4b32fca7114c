#pragma once
// Schema migrations for the PostgreSQL stores. Each component (keys, …) has numbered steps; the
// version applied is kept in table mcpgw_schema. The script runs as one transaction under an
// advisory lock, so replicas starting together apply each step once; a store whose schema is
// newer than this build knows is refused rather than written to.
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::store {

struct Migration {
  int version;      ///< 1, 2, … in order
  std::string sql;  ///< PL/pgSQL statements (no "$mcpgw$" inside)
};

/// One script (several statements, one implicit transaction) that brings `component` to the
/// last of `steps`.
std::string migration_script(std::string_view component, const std::vector<Migration>& steps);

}  // namespace mcpgw::store
