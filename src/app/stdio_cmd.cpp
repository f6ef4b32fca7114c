// `mcpgw stdio`: what a stdio-only client (Claude Desktop) launches to reach a gateway.
#include "app/stdio_cmd.hpp"

#include "client/bridge.hpp"
#include "common/log.hpp"
#include "upstream/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <exception>

namespace mcpgw::app {

namespace {

class StdioCommand final : public Subcommand {
 public:
  CLI::App* add(CLI::App& app) override;
  int run() override;

 private:
  /// Checks the arguments and fills opts_; false with the error on stderr.
  bool prepare();

  client::BridgeOptions opts_;
  std::vector<std::string> header_args_;
  long startup_ms_ = 30'000;
  long call_ms_ = 120'000;
  std::string log_level_ = "warn";
};

CLI::App* StdioCommand::add(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "stdio", "Serve MCP on stdin/stdout, relayed to an MCP URL (a gateway): for clients that "
               "only launch commands, such as Claude Desktop");
  cmd->add_option("--url", opts_.url, "The MCP endpoint, e.g. http://127.0.0.1:8080/mcp")
      ->required();
  cmd->add_option("-H,--header", header_args_,
                  "A header for every request, \"Name: value\" (repeatable); ${VAR} in the value "
                  "is taken from the environment");
  cmd->add_option("--transport", opts_.transport,
                  "auto (Streamable HTTP, then legacy SSE if refused), http or sse")
      ->check(CLI::IsMember({"auto", "http", "sse"}));
  cmd->add_option("--startup-timeout", startup_ms_,
                  "ms to connect, and to wait for a restarting server (default 30000)");
  cmd->add_option("--timeout", call_ms_, "ms for one request (default 120000)");
  cmd->add_option("--ca-file", opts_.ca_file, "PEM CA bundle trusted besides the system's");
  cmd->add_flag("--insecure", opts_.insecure, "Do not verify the server's TLS certificate");
  cmd->add_option("--log-level", log_level_,
                  "On stderr: trace, debug, info, warn, error (default warn)");
  return cmd;
}

bool StdioCommand::prepare() {
  std::string error;
  upstream::Url url;
  if (!upstream::parse_url(opts_.url, url, error)) {
    fmt::print(stderr, "error: --url: {}\n", error);
    return false;
  }
  for (auto& arg : header_args_) {
    std::string missing;
    auto expanded = config::expand_env(arg, config::process_env(), &missing);
    if (!expanded) {
      fmt::print(stderr, "error: --header: the environment variable {} is not set\n", missing);
      return false;
    }
    arg = std::move(*expanded);
  }
  if (!client::parse_header_args(header_args_, opts_.headers, error)) {
    fmt::print(stderr, "error: {}\n", error);
    return false;
  }
  if (startup_ms_ <= 0 || call_ms_ <= 0) {
    fmt::print(stderr, "error: timeouts must be positive\n");
    return false;
  }
  opts_.startup = config::Millis(startup_ms_);
  opts_.call = config::Millis(call_ms_);
  return true;
}

int StdioCommand::run() {
  if (!log::init(log_level_)) {
    fmt::print(stderr, "error: unknown log level \"{}\"\n", log_level_);
    return 2;
  }
  if (!prepare()) {
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // a client that went away is seen as a write error
  asio::io_context ioc(1);
  std::shared_ptr<client::StdioChannel> io;
  try {
    io = std::make_shared<client::StdioChannel>(ioc.get_executor(), 0, 1, 32 * 1024 * 1024);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: stdin and stdout must be pipes, terminals or sockets: {}\n",
               e.what());
    return 2;
  }
  client::Bridge bridge(ioc.get_executor(), opts_, io);
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) {
      bridge.stop();
    }
  });
  int code = 1;
  asio::co_spawn(ioc, bridge.run(), [&](std::exception_ptr e, int rc) {
    code = e ? 1 : rc;
    signals.cancel();
    ioc.stop();
  });
  ioc.run();
  return code;
}

}  // namespace

SubcommandPtr make_stdio_command() { return std::make_unique<StdioCommand>(); }

}  // namespace mcpgw::app
