// mcpgw: one MCP endpoint for every client, in front of many MCP servers.
#include "app/serve.hpp"
#include "common/log.hpp"
#include "config/config.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

namespace {

bool load(const std::string& path, mcpgw::config::Config& out) {
  mcpgw::config::Diagnostics diag;
  auto cfg = mcpgw::config::load_file(path, diag);
  for (const auto& w : diag.warnings) {
    fmt::print(stderr, "warning: {}\n", w);
  }
  for (const auto& e : diag.errors) {
    fmt::print(stderr, "error: {}\n", e);
  }
  if (!cfg) {
    fmt::print(stderr, "{}: {} error(s)\n", path, diag.errors.size());
    return false;
  }
  out = std::move(*cfg);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mcpgw: a Model Context Protocol gateway. One endpoint for every MCP client "
               "(Streamable HTTP, legacy SSE) in front of many MCP servers."};
  app.set_version_flag("--version", std::string("mcpgw ") + MCPGW_VERSION);
  app.require_subcommand(1);

  std::string config_path;
  std::string listen;
  std::string log_level;
  auto* serve = app.add_subcommand("serve", "Run the gateway");
  serve->add_option("-c,--config", config_path,
                    "Config file: {\"mcpServers\": {...}, \"gateway\": {...}}")
      ->required();
  serve->add_option("-l,--listen", listen, "Listen address HOST:PORT (overrides gateway.listen)");
  serve->add_option("--log-level", log_level,
                    "trace, debug, info, warn, error (overrides gateway.logLevel)");

  std::string check_path;
  bool no_start = false;
  auto* check = app.add_subcommand("check-config",
                                   "Validate a config file and print what would be served");
  check->add_option("config", check_path, "Config file")->required();
  check->add_flag("--no-start", no_start,
                  "Only validate; do not start the servers to list their tools");

  CLI11_PARSE(app, argc, argv);

  mcpgw::config::Config cfg;
  if (*serve) {
    if (!load(config_path, cfg)) {
      return 2;
    }
    if (!listen.empty() &&
        !mcpgw::config::parse_listen(listen, cfg.gateway.listen_host, cfg.gateway.listen_port)) {
      fmt::print(stderr, "error: --listen: expected HOST:PORT, got \"{}\"\n", listen);
      return 2;
    }
    if (!log_level.empty()) {
      cfg.gateway.log_level = log_level;
    }
    if (!mcpgw::log::init(cfg.gateway.log_level)) {
      fmt::print(stderr, "error: unknown log level \"{}\"\n", cfg.gateway.log_level);
      return 2;
    }
    return mcpgw::app::serve(std::move(cfg));
  }
  if (*check) {
    if (!load(check_path, cfg)) {
      return 2;
    }
    mcpgw::log::init(no_start ? "warn" : "error");
    return mcpgw::app::check_config(cfg, !no_start);
  }
  return 0;
}
