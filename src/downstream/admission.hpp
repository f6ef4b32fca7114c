#pragma once
// Who may open a connection: the global cap (limits.maxConnections) and the cap per client
// address (limits.maxConnectionsPerClient), so one client cannot hold every slot. A refused
// connection gets a short 503 written without waiting, then is closed. Once a connection has
// authenticated, it also counts for its principal (limits.maxConnectionsPerPrincipal), so one
// key cannot hold every slot from many addresses.
#include "config/config.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpgw::downstream {

class Admission {
 public:
  enum class Verdict { ok, full, client_full };

  explicit Admission(const config::Limits& limits) : limits_(limits) {}

  /// Counts a new connection from `peer`, or says why it may not open.
  Verdict admit(const boost::asio::ip::address& peer);
  /// The connection admitted for `peer` closed.
  void release(const boost::asio::ip::address& peer) noexcept;

  /// Counts a connection for `principal`; false when it already holds
  /// limits.maxConnectionsPerPrincipal.
  bool admit_principal(const std::string& principal);
  void release_principal(const std::string& principal) noexcept;

  std::size_t open() const noexcept { return open_; }
  std::size_t refused() const noexcept { return refused_; }

  /// Writes a one-shot 503 JSON-RPC error for `verdict` without blocking (what the socket
  /// takes now), then closes the socket.
  static void refuse(boost::asio::ip::tcp::socket& socket, Verdict verdict) noexcept;

 private:
  const config::Limits& limits_;
  std::unordered_map<boost::asio::ip::address, std::size_t> per_peer_;
  std::unordered_map<std::string, std::size_t> per_principal_;
  std::size_t open_ = 0;
  std::size_t refused_ = 0;
};

}  // namespace mcpgw::downstream
