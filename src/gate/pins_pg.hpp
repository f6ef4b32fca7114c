#pragma once
// Tool pins in PostgreSQL, shared by the replicas (docs/scale-out.md). Table mcpgw_tool_pins
// holds each tool's approved definition and the one waiting for an administrator; every change
// gives the row a new version (`changed`, from a sequence) and NOTIFYs channel "mcpgw_pins".
// Each replica follows it (store/pg_follower.hpp): it LISTENs and reads the rows again when told (and every 30 s):
// a tool quarantined by one replica is held by all, and an approval through any replica
// releases it everywhere. Lists and calls never wait for PostgreSQL.
#include "gate/pin_backend.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mcpgw::store {
class PgFollower;
}

namespace mcpgw::gate {

/// The pins' table in a PostgreSQL store; its first use brings the schema up to date.
std::unique_ptr<PinBackend> open_pg_pins(const std::string& url,
                                         std::chrono::milliseconds timeout);

/// Follows the pins' table on the event loop: `rows` is given every row, after each change
/// anywhere (and every 30 s).
std::shared_ptr<store::PgFollower> follow_pg_pins(boost::asio::any_io_executor ex,
                                                  const std::string& url,
                                                  std::chrono::milliseconds timeout,
                                                  std::function<void(std::vector<PinRow>&&)> rows);

}  // namespace mcpgw::gate
