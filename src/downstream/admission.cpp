#include "downstream/admission.hpp"

#include <fmt/format.h>

namespace mcpgw::downstream {

Admission::Verdict Admission::admit(const boost::asio::ip::address& peer) {
  if (open_ >= limits_.max_connections) {
    ++refused_;
    return Verdict::full;
  }
  auto& n = per_peer_[peer];
  if (n >= limits_.max_connections_per_client) {
    ++refused_;
    return Verdict::client_full;
  }
  ++n;
  ++open_;
  return Verdict::ok;
}

void Admission::release(const boost::asio::ip::address& peer) noexcept {
  auto it = per_peer_.find(peer);
  if (it == per_peer_.end()) {
    return;
  }
  --open_;
  if (--it->second == 0) {
    per_peer_.erase(it);
  }
}

bool Admission::admit_principal(const std::string& principal) {
  auto& n = per_principal_[principal];
  if (n >= limits_.max_connections_per_principal) {
    if (n == 0) {
      per_principal_.erase(principal);
    }
    ++refused_;
    return false;
  }
  ++n;
  return true;
}

void Admission::release_principal(const std::string& principal) noexcept {
  auto it = per_principal_.find(principal);
  if (it != per_principal_.end() && --it->second == 0) {
    per_principal_.erase(it);
  }
}

void Admission::refuse(boost::asio::ip::tcp::socket& socket, Verdict verdict) noexcept {
  const std::string_view why =
      verdict == Verdict::client_full
          ? "Service Unavailable: too many connections from this client "
            "(limits.maxConnectionsPerClient)"
          : "Service Unavailable: the gateway is at limits.maxConnections";
  const std::string body = fmt::format(
      R"({{"jsonrpc":"2.0","id":null,"error":{{"code":-32000,"message":"{}"}}}})", why);
  const std::string reply = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nServer: mcpgw\r\nContent-Type: application/json\r\n"
      "Retry-After: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      body.size(), body);
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  if (!ec) {
    socket.write_some(boost::asio::buffer(reply), ec);  // a fresh socket takes this much
  }
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

}  // namespace mcpgw::downstream
