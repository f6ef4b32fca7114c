// `mcpgw probe URL [--header "Name: value"]... [--json] [--name NAME]`: tries every transport
// and protocol revision against an MCP server, prints what works and the configs that use it.
#include "app/probe_cmd.hpp"

#include "client/probe.hpp"
#include "client/probe_config.hpp"
#include "client/probe_report.hpp"
#include "config/json_text.hpp"
#include "common/log.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace mcpgw::app {

namespace {

constexpr const char* kFooter = R"(
Checks, each bounded by 5 s (the whole probe by 30 s; see --timeout): reachability; the
2026-07-28 revision (server/discover); Streamable HTTP (initialize, session, initialized,
tools/list, a POST that accepts JSON only, the session's GET stream); legacy HTTP+SSE (the GET
stream's endpoint event, initialize, tools/list); for a /mcp URL also its /sse sibling and the
other way round; after a 401/403, the WWW-Authenticate challenge and the OAuth metadata.

Header values passed with --header are sent as given but shown in the printed configs as
"<value you passed>" (after any "Bearer "), so that the output can be shared; --show-secrets
prints them as given.

Exit code: 0 when a transport works, 1 when none does, 2 on a bad command line.)";

class ProbeCommand : public Subcommand {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* cmd = app.add_subcommand("probe", "Diagnose an MCP server: which transport, "
                                            "headers and URL work, and the config for each "
                                            "client");
    cmd->add_option("url", url_, "The server's URL, e.g. https://mcp.example.com/mcp");
    cmd->add_option("--header", header_args_,
                    "A header to send, \"Name: value\" (repeatable), e.g. "
                    "\"Authorization: Bearer KEY\"")
        ->allow_extra_args(false);  // one value per --header, so that the URL may follow
    cmd->add_flag("--json", json_, "Print one JSON object (checks, tools, transport, configs)");
    cmd->add_option("--name", name_,
                    "The server's name in the printed configs (default: from the host)");
    cmd->add_flag("--show-secrets", show_secrets_,
                  "Print header values in the configs as given");
    cmd->add_option("--ca-file", opts_.tls.ca_file,
                    "A PEM bundle of CAs to trust besides the system's");
    cmd->add_flag("--insecure", opts_.tls.insecure,
                  "Do not verify the server's TLS certificate");
    cmd->add_option("--timeout", step_s_,
                    "Seconds each step may take (default 5); the whole probe gets 6 times that")
        ->check(CLI::Range(0.1, 60.0));
    cmd->footer(kFooter);
    return cmd;
  }

  int run() override {
    if (!check_arguments()) {
      return 2;
    }
    log::init("off");  // the report says everything; no log lines in between
    const auto found = client::run_probe(opts_);
    // The URL as the checks name it (a bare host gets its "/"), so that rows on it are told
    // from rows on a sibling.
    client::ReportOptions r{opts_.url.origin() + opts_.url.target, name_, opts_.headers,
                            show_secrets_};
    if (r.name.empty()) {
      r.name = client::name_from_url(opts_.url);
    }
    if (json_) {
      fmt::print("{}\n", config::pretty_json(client::render_json(found, r)));
    } else {
      fmt::print("{}", client::render_text(found, r));
    }
    return found.transport.empty() ? 1 : 0;
  }

 private:
  /// Parses the URL and the headers; false (with the error on stderr) if one is bad.
  bool check_arguments() {
    std::string why;
    if (url_.empty()) {
      fmt::print(stderr, "error: probe: a URL is needed, e.g. mcpgw probe "
                         "https://mcp.example.com/mcp\n");
      return false;
    }
    if (!upstream::parse_url(url_, opts_.url, why)) {
      fmt::print(stderr, "error: probe: {}: {}\n", url_, why);
      return false;
    }
    opts_.step = std::chrono::milliseconds(static_cast<long>(step_s_ * 1000));
    opts_.total = opts_.step * 6;
    if (!client::parse_header_args(header_args_, opts_.headers, why)) {
      fmt::print(stderr, "error: probe: {}\n", why);
      return false;
    }
    return true;
  }

  std::string url_, name_;
  std::vector<std::string> header_args_;
  bool json_ = false;
  bool show_secrets_ = false;
  double step_s_ = 5;
  client::ProbeOptions opts_;
};

}  // namespace

SubcommandPtr make_probe_command() { return std::make_unique<ProbeCommand>(); }

}  // namespace mcpgw::app
