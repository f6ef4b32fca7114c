// `mcpgw import litellm`: prints (or writes) the mcpgw JSON config equivalent to a LiteLLM
// config.yaml, and on stderr what was mapped and what was not, with why. The result is checked
// by the same parser `serve` uses, so what it prints is a config mcpgw accepts.
#include "app/import_cmd.hpp"
#include "config/json_text.hpp"
#include "config/litellm.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mcpgw::app {

namespace {

namespace fs = std::filesystem;

/// Every variable is taken as set: the import checks the config, not this machine's
/// environment (the variables are needed where mcpgw runs).
std::optional<std::string> any_variable(const std::string&) { return std::string("set"); }

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

/// The report on stderr: what was mapped, then the warnings and errors.
void report(const config::LiteLlmConversion& conv, const config::Diagnostics& diag) {
  for (const auto& line : conv.mapped) {
    fmt::print(stderr, "mapped: {}\n", line);
  }
  for (const auto& w : diag.warnings) {
    fmt::print(stderr, "warning: {}\n", w);
  }
  for (const auto& e : diag.errors) {
    fmt::print(stderr, "error: {}\n", e);
  }
}

class ImportCommand : public Subcommand {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* cmd = app.add_subcommand("import", "Convert another gateway's config to mcpgw's");
    cmd->require_subcommand(1);
    auto* lite = cmd->add_subcommand(
        "litellm", "LiteLLM's config.yaml (its mcp_servers) as an mcpgw JSON config; a report "
                   "of what was and was not mapped goes to stderr");
    lite->add_option("file", file_, "LiteLLM's config.yaml")->required();
    lite->add_option("-o,--output", output_, "Write the config here instead of stdout");
    lite->add_flag("--keep-litellm-names", options_.keep_litellm_names,
                   "Set the separator to \"-\" so tools keep LiteLLM's names (server-tool)");
    return cmd;
  }

  int run() override {
    std::string text;
    if (!read_file(file_, text)) {
      fmt::print(stderr, "error: {}: cannot open the file\n", file_);
      return 2;
    }
    const std::string base =
        fs::absolute(fs::path(file_)).parent_path().lexically_normal().string();
    config::Diagnostics diag;
    config::LiteLlmConversion conv;
    const auto cfg =
        config::parse_litellm(text, file_, base, diag, any_variable, options_, &conv);
    report(conv, diag);
    if (!cfg) {
      fmt::print(stderr, "{}: {} error(s); nothing written\n", file_, diag.errors.size());
      return 2;
    }
    return write(config::pretty_json(conv.doc) + "\n", conv, cfg->servers.size());
  }

 private:
  int write(const std::string& json, const config::LiteLlmConversion& conv,
            std::size_t servers) {
    if (!conv.env_vars.empty()) {
      std::string names;
      for (const auto& n : conv.env_vars) {
        names += names.empty() ? n : ", " + n;
      }
      fmt::print(stderr, "environment: mcpgw reads {} when it starts\n", names);
    }
    if (output_.empty()) {
      fmt::print(stdout, "{}", json);
      std::fflush(stdout);
    } else {
      std::ofstream out(output_, std::ios::binary | std::ios::trunc);
      if (!(out << json) || !out.flush()) {
        fmt::print(stderr, "error: {}: cannot write the file\n", output_);
        return 2;
      }
    }
    fmt::print(stderr, "imported {} server(s) from {}{}\n", servers, file_,
               output_.empty() ? "" : " into " + output_);
    return 0;
  }

  std::string file_;
  std::string output_;
  config::LiteLlmOptions options_;
};

}  // namespace

SubcommandPtr make_import_command() { return std::make_unique<ImportCommand>(); }

}  // namespace mcpgw::app
