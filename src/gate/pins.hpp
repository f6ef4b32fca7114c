#pragma once
// Tool pinning, the defence against rug pulls: each tool's name, title, description, schemas
// and annotations are hashed (SHA-256 of canonical JSON) the first time a server lists it, and
// the pin is kept. When a later list shows another definition, the tool is quarantined: hidden
// from lists and refused when called, until an administrator approves the new definition
// (`mcpgw tools approve SERVER TOOL`). A tool whose description reads like prompt injection
// (tool poisoning) is quarantined on first sight too.
//
// The pins are kept in a SQLite file (one replica), or in PostgreSQL, shared by the replicas
// (pin_backend.hpp, pins_pg.hpp). Shared, a quarantine is stored too: the other replicas learn
// of it, forget the list they had and screen the server's tools again before their next call;
// an approval through any replica pins the new definition for all.
//
// Everything is decided on the event loop from memory; the store is written by one thread of
// its own, so a slow disk or database never stalls a list.
#include "gate/detect.hpp"
#include "gate/pin_backend.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace mcpgw::store {
class PgFollower;
}

namespace mcpgw::gate {

class PinStore : public std::enable_shared_from_this<PinStore> {
 public:
  /// Opens the pin store at `path`, a SQLite file or a postgres:// URL, and loads its pins;
  /// null with `error` on failure. `inspect` (may be null) checks descriptions for prompt
  /// injection. A PostgreSQL store is followed on `ex`; when it cannot be read at start, every
  /// tool is held until it can.
  static std::shared_ptr<PinStore> open(const std::string& path, const Detectors* inspect,
                                        std::string& error,
                                        const boost::asio::any_io_executor& ex = {},
                                        std::chrono::milliseconds timeout =
                                            std::chrono::milliseconds(2000));
  /// A store on `backend` (tests give their own). Null with `error` when a store of one
  /// replica cannot be read.
  static std::shared_ptr<PinStore> create(std::unique_ptr<PinBackend> backend,
                                          const Detectors* inspect,
                                          const boost::asio::any_io_executor& ex,
                                          std::string& error);
  ~PinStore();
  PinStore(const PinStore&) = delete;
  PinStore& operator=(const PinStore&) = delete;

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

  /// Rows read from a shared store (by the follower, or as a write left them): each is taken
  /// when newer than what is known. A server whose pins changed is screened again and
  /// reported to on_change.
  void merge(std::vector<PinRow>&& rows);
  /// Called (on the loop) with a server whose pins another replica changed: its tools must be
  /// listed again before they are trusted.
  void on_change(std::function<void(const std::string& server)> f) { on_change_ = std::move(f); }
  /// A store the replicas share.
  bool shared() const noexcept { return shared_; }
  /// Readable now, and (shared) followed; `detail` says where and why not.
  bool usable(std::string& detail) const;
  /// The pins are known (false while a shared store could not be read yet: tools are held).
  bool loaded() const noexcept { return loaded_; }
  const std::string& path() const noexcept { return path_; }
  bool inspects() const noexcept { return inspect_ != nullptr; }

  /// SHA-256 (hex) of the canonical JSON of the tool's name, title, description, inputSchema,
  /// outputSchema and annotations (null when absent); `canonical` receives that JSON.
  /// `legacy`: of what pins covered before (name, description and the schemas, when present).
  static std::string tool_hash(const boost::json::object& tool, std::string* canonical = nullptr,
                               bool legacy = false);

 private:
  PinStore() = default;
  struct Pin : PinRow {
    std::string listed_hash;   ///< (shared) the definition this replica's server lists
    std::string local_reason;  ///< (shared) why this replica holds the tool; empty: it does not
  };
  struct Listed {
    std::shared_ptr<const boost::json::array> tools;
    bool strict = false;
  };
  static std::string key(std::string_view server, std::string_view tool);
  /// Screens every tool of `tools`.
  std::size_t screen_all(const std::string& server, const Listed& listed);
  /// One listed tool; true when it is newly quarantined.
  bool screen_tool(const std::string& server, const std::string& tool,
                   const boost::json::object& t, bool set_pinned);
  /// A pin written before pins covered the title and annotations, of a tool unchanged since:
  /// the pin grows to today's fields, without a quarantine.
  void grow_legacy_pin(Pin& pin, const boost::json::object& t, const std::string& hash,
                       const std::string& definition);
  /// screen_tool for a shared store.
  bool screen_shared(Pin& pin, const boost::json::object& t, bool fresh, bool set_pinned);
  /// Why a changed or new definition is held.
  static std::string why_held(const Pin& pin, const std::string& definition,
                              const std::string& poison, bool added);
  std::string poisoned(const boost::json::object& t) const;
  void write(PinWrite kind, const Pin& pin, std::string expect = {});
  /// Starts following a PostgreSQL store.
  void follow(const std::string& url, std::chrono::milliseconds timeout);

  std::map<std::string, Pin, std::less<>> pins_;  ///< by key(server, tool)
  std::map<std::string, Listed, std::less<>> last_;
  const Detectors* inspect_ = nullptr;
  std::vector<bool> injection_;  ///< detectors enabled for descriptions
  std::string path_;
  boost::asio::any_io_executor ex_;
  std::unique_ptr<PinBackend> backend_;
  bool shared_ = false;
  bool loaded_ = true;        ///< false while a shared store could not be read yet
  std::string unloaded_why_;  ///< the reason given for every tool meanwhile
  std::shared_ptr<store::PgFollower> follower_;
  std::function<void(const std::string&)> on_change_;
  std::unique_ptr<boost::asio::thread_pool> writer_;
};

}  // namespace mcpgw::gate
