#pragma once
// The parts of config parsing that config.cpp, parse_gateway.cpp and parse_servers.cpp share
// (not part of the config module's interface).
#include "config/config.hpp"
#include "config/reader.hpp"

#include <boost/json.hpp>

#include <map>
#include <string>
#include <utility>

namespace mcpgw::config::detail {

namespace json = boost::json;

/// gateway.servers.NAME options by server name, with their JSON path.
using OptionsByServer = std::map<std::string, std::pair<ServerOptions, std::string>>;

/// The object at `v` (null when absent; an error, and null, when it is not an object).
const json::object* as_object(const json::value* v, const std::string& path, Diagnostics& diag);
/// Expands ${VAR} in `field`; an error when a variable without a default is unset. With
/// `keep_user_refs`, `${user:NAME}` stays as it is.
void expand(std::string& field, const std::string& path, const EnvLookup& env, Diagnostics& diag,
            bool keep_user_refs = false);
/// `tls: {caFile, insecure}` of a server or of a JWKS URL; caFile relative to the config.
void parse_tls(ObjectReader& r, const std::string& base_dir, Diagnostics& diag,
               std::string& ca_file, bool& insecure);

void parse_gateway(const json::object& obj, const std::string& base_dir, Diagnostics& diag,
                   const EnvLookup& env, GatewayConfig& g, OptionsByServer& server_opts);
void parse_server(const std::string& name, const json::object& obj, const std::string& path,
                  const std::string& base_dir, const EnvLookup& env, Diagnostics& diag,
                  ServerConfig& out, bool& disabled);
void parse_server_options(const json::object& obj, const std::string& path,
                          const std::string& base_dir, const EnvLookup& env, Diagnostics& diag,
                          ServerOptions& out);
/// `auth` of gateway.servers.NAME (parse_upstream_auth.cpp).
/// `gateway.publicUrl`: an absolute http(s) URL, kept without a trailing slash.
void read_public_url(ObjectReader& r, Diagnostics& diag, std::string& out);
void parse_upstream_auth(ObjectReader& r, const EnvLookup& env, Diagnostics& diag,
                         UpstreamAuth& out);
/// Whether a server's `auth` can work with its transport, isolation and the gateway's auth.
void check_upstream_auth(const ServerConfig& sc, const std::string& path,
                         const AuthConfig& gateway_auth, Diagnostics& diag);
/// `approvals`: "client" or "admin" (nothing when the key is absent).
void parse_approver(ObjectReader& r, std::optional<Approver>& out);
/// Options that make sense only for some servers.
void check_server_options(const ServerConfig& sc, const std::string& path, Diagnostics& diag);

}  // namespace mcpgw::config::detail
