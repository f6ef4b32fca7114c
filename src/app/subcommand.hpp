#pragma once
// A subcommand that lives in its own file: it adds itself to the command line and runs when
// chosen. main() holds a list of them.
#include <CLI/CLI.hpp>

#include <memory>

namespace mcpgw::app {

class Subcommand {
 public:
  virtual ~Subcommand() = default;
  /// Adds the subcommand (and its options) to `app`; returns it.
  virtual CLI::App* add(CLI::App& app) = 0;
  /// Runs it; returns the process exit code.
  virtual int run() = 0;
};

using SubcommandPtr = std::unique_ptr<Subcommand>;

}  // namespace mcpgw::app
