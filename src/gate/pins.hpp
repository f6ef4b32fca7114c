#pragma once
// Tool pinning, the defence against rug pulls: each tool's name, title, description, schemas
// and annotations are hashed (SHA-256 of canonical JSON) the first time a server lists it, and
// the pin is kept in SQLite. When a later list shows another definition, the tool is quarantined: hidden from
// lists and refused when called, until an administrator approves the new definition (`mcpgw
// tools approve SERVER TOOL`). A tool whose description reads like prompt injection (tool
// poisoning) is quarantined on first sight too.
//
// Everything is decided on the event loop from memory; the file is written by one thread of
// its own, so a slow disk never stalls a list.
#include "gate/detect.hpp"

#include <boost/asio/thread_pool.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

struct sqlite3;

namespace mcpgw::gate {

class PinStore {
 public:
  /// Opens (or creates) the pin file and loads its pins; null with `error` on failure.
  /// `inspect` (may be null) checks descriptions for prompt injection.
  static std::shared_ptr<PinStore> open(const std::string& path, const Detectors* inspect,
                                        std::string& error);
  ~PinStore();

  /// Checks a server's tools as listed; cheap when it is the same list as last time.
  /// `strict`: once the server has pins, a tool it did not have is quarantined too.
  /// Returns the number of tools newly quarantined.
  std::size_t screen(const std::string& server,
                     const std::shared_ptr<const boost::json::array>& tools, bool strict = false);
  /// Why the tool is quarantined, or null when it is not.
  const std::string* quarantined(const std::string& server, std::string_view tool) const;
  /// Accepts the tool's current definition. False when it was not quarantined.
  bool approve(const std::string& server, std::string_view tool);
  /// Every pinned or quarantined tool, for the admin API.
  boost::json::array list() const;
  /// Waits until everything queued is written (tests, shutdown).
  void flush();

  /// SHA-256 (hex) of the canonical JSON of the tool's name, title, description, inputSchema,
  /// outputSchema and annotations (null when absent); `canonical` receives that JSON.
  /// `legacy`: of what pins covered before (name, description and the schemas, when present).
  static std::string tool_hash(const boost::json::object& tool, std::string* canonical = nullptr,
                               bool legacy = false);

 private:
  PinStore() = default;
  struct Pin {
    std::string server, tool;
    std::string hash, definition;  ///< approved; empty when never approved
    std::int64_t pinned_ms = 0;
    std::string pending_hash, pending_definition, reason;  ///< set while quarantined
    std::int64_t seen_ms = 0;
  };
  static std::string key(std::string_view server, std::string_view tool);
  /// One listed tool; true when it is newly quarantined.
  bool screen_tool(const std::string& server, const std::string& tool,
                   const boost::json::object& t, bool set_pinned);
  std::string poisoned(const boost::json::object& t) const;
  void write(const Pin& pin);

  std::map<std::string, Pin, std::less<>> pins_;  ///< by key(server, tool)
  std::map<std::string, std::shared_ptr<const boost::json::array>, std::less<>> last_;
  const Detectors* inspect_ = nullptr;
  std::vector<bool> injection_;  ///< detectors enabled for descriptions
  sqlite3* db_ = nullptr;
  std::unique_ptr<boost::asio::thread_pool> writer_;
};

}  // namespace mcpgw::gate
