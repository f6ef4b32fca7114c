#include "client/probe_config.hpp"

#include "common/text.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/json/array.hpp>
#include <fmt/format.h>

#include <array>

namespace mcpgw::client {

namespace json = boost::json;

namespace {

/// Host labels that say nothing about which server it is.
bool generic_label(std::string_view label) {
  static constexpr std::array<std::string_view, 8> kGeneric{
      "www", "api", "mcp", "mcps", "server", "servers", "remote", "app"};
  for (auto g : kGeneric) {
    if (label == g) {
      return true;
    }
  }
  return false;
}

/// `s` between double quotes for a POSIX shell.
std::string double_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\' || c == '$' || c == '`') {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

std::string sanitize_name(std::string_view text) {
  std::string out;
  for (char c : lower(text)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (keep) {
      out.push_back(c);
    } else if (!out.empty() && out.back() != '_') {
      out.push_back('_');
    }
  }
  while (!out.empty() && out.back() == '_') {
    out.pop_back();
  }
  while (!out.empty() && out.front() == '_') {
    out.erase(out.begin());
  }
  return out.empty() ? "server" : out;
}

std::string name_from_url(const upstream::Url& url) {
  const std::string host = lower(url.host);
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(host, ec);
  if (host == "localhost" || (!ec && ip.is_loopback())) {
    return sanitize_name(fmt::format("local_{}", url.port));
  }
  if (!ec) {
    return sanitize_name(fmt::format("host_{}", host));
  }
  auto labels = split_list(host, '.');
  if (labels.size() > 1) {
    labels.pop_back();  // the top-level domain
  }
  for (const auto& label : labels) {
    if (!generic_label(label)) {
      return sanitize_name(label);
    }
  }
  return sanitize_name(labels.empty() ? host : labels.front());
}

std::string shown_value(std::string_view value, bool show) {
  if (show) {
    return std::string(value);
  }
  const auto space = value.find(' ');
  if (space != std::string_view::npos) {
    const std::string scheme = lower(value.substr(0, space));
    if (scheme == "bearer" || scheme == "basic" || scheme == "token" || scheme == "bot") {
      return fmt::format("{} {}", value.substr(0, space), kHiddenValue);
    }
  }
  return std::string(kHiddenValue);
}

std::string shell_quote(std::string_view s) {
  const bool plain = !s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                       "_@%+=:,./-") == std::string_view::npos;
  if (plain) {
    return std::string(s);
  }
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

ClientConfigs client_configs(std::string_view name, std::string_view transport,
                             std::string_view url, const std::vector<Header>& headers,
                             bool show_secrets) {
  ClientConfigs out;
  out.claude_code = fmt::format("claude mcp add --transport {} {} {}", transport,
                                shell_quote(name), shell_quote(url));
  json::object header_map;
  json::array desktop_args{"stdio", "--url", url};
  for (const auto& [k, v] : headers) {
    const std::string shown = shown_value(v, show_secrets);
    out.claude_code += fmt::format(" --header {}", double_quote(fmt::format("{}: {}", k, shown)));
    header_map[k] = shown;
    desktop_args.emplace_back("--header");
    desktop_args.emplace_back(fmt::format("{}: {}", k, shown));
  }
  json::object server;
  server["type"] = transport;
  server["url"] = url;
  if (!header_map.empty()) {
    server["headers"] = std::move(header_map);
  }
  json::object desktop;
  desktop["command"] = "mcpgw";
  desktop["args"] = std::move(desktop_args);

  auto wrap = [&](json::object entry) {
    json::object servers;
    servers[name] = std::move(entry);
    json::object doc;
    doc["mcpServers"] = std::move(servers);
    return doc;
  };
  out.mcp_json = wrap(server);
  out.mcpgw = wrap(server);
  out.claude_desktop = wrap(std::move(desktop));
  return out;
}

}  // namespace mcpgw::client
