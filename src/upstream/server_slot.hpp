#pragma once
// One server's backend as the gateway holds it, with what it learnt from it: the lists it
// serves (cached until it says they changed, fetched once however many ask) and how many
// sessions subscribe to each of its resources.
#include "config/config.hpp"
#include "upstream/backend.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpgw::upstream {

namespace json = boost::json;

enum class ListKind { tools, prompts, resources, templates };

/// What each list is called on the wire.
struct ListInfo {
  const char* method;      ///< the request
  const char* key;         ///< the result's array
  const char* capability;  ///< the server capability it needs
  const char* changed;     ///< the notification that invalidates it
};
const ListInfo& info(ListKind kind) noexcept;

/// Whether a ready backend offered `capability` in its initialize result.
bool has_capability(const Backend& b, std::string_view capability);

/// One list a server serves, cached until the server says it changed.
struct ListCache {
  std::shared_ptr<const json::array> items;
  std::shared_ptr<Event> fetching;  ///< set when the running fetch ends
  bool served_partial = false;      ///< an aggregate went out without this server's items
  /// (tools) a tool of it mirrors a parameter in an HTTP header (`x-mcp-header`, 2026-07-28).
  bool header_params = false;
  /// (tools) each tool of `items` by name (the first of a name), pointing into `items`: a
  /// call finds its tool without a scan of the list.
  std::unordered_map<std::string_view, const json::object*> by_name;
};

/// The entry of `tools` called `name`, or null. `cached` is the slot's tools cache: when it
/// holds this very list, its index answers; otherwise the list is scanned.
const json::object* find_tool(const std::shared_ptr<const json::array>& tools,
                              const ListCache& cached, std::string_view name);

/// How long a list fetch may take: the whole fetch, and the wait for a starting server.
struct ListDeadlines {
  Clock::duration call;
  Clock::duration startup;
};

/// One backend of a server and its caches. Shared backends have one slot per server; servers
/// with `isolation: session` one per session.
struct ServerSlot {
  /// `server` is shared with the relay's current configuration; a reload that changes only
  /// the server's trust labels gives the slot the new one.
  explicit ServerSlot(std::shared_ptr<const config::ServerConfig> server)
      : cfg(std::move(server)) {}
  virtual ~ServerSlot() = default;
  ServerSlot(const ServerSlot&) = delete;
  ServerSlot& operator=(const ServerSlot&) = delete;

  std::shared_ptr<const config::ServerConfig> cfg;
  BackendPtr backend;
  ListCache lists[4];
  std::map<std::string, int> subscriptions;  ///< server URI → subscribed sessions
  bool ever_ready = false;

  ListCache& cache(ListKind k) noexcept { return lists[static_cast<int>(k)]; }
  /// Forgets every cached list (the server restarted or said everything changed).
  void forget_lists() noexcept;

  /// The server's whole list (every page), from the cache or fetched; concurrent callers
  /// share one fetch. Null when the server gave none in time. `filled` is set when this call
  /// put a fresh list in the cache.
  asio::awaitable<std::shared_ptr<const json::array>> fetch_list(asio::any_io_executor ex,
                                                                  ListKind kind,
                                                                  ListDeadlines limits,
                                                                  bool& filled);
};

}  // namespace mcpgw::upstream
