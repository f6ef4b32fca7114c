#pragma once
// Trust labels of one tool, resolved once from everything known about it: the tool's own
// `trust` in config, then its server's, then the tool's annotations, and true for anything
// still unknown. A server with nothing known is all true, everywhere the gate looks.
#include "config/config.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace mcpgw::gate {

using config::Tri;

struct Labels {
  Tri public_source = Tri::yes;
  Tri secret_data = Tri::yes;
  Tri public_sink = Tri::yes;
  Tri dangerous_writes = Tri::yes;
  /// Who may approve a held call to this tool (`approvals` of the tool, else of its server);
  /// unset: the gate's own setting.
  std::optional<config::Approver> approver;

  /// The first label that is "forbidden", or null.
  const char* forbidden() const noexcept;
  /// "public_source=true secret_data=false …", for logs and audit rows.
  std::string describe() const;
};

/// `tool` is the server's own name for it (null `annotations` when the list had none).
/// Annotations fill only what config leaves unset:
///   readOnlyHint true      → dangerous_writes false
///   destructiveHint false  → dangerous_writes false (additive writes only)
///   destructiveHint true   → dangerous_writes true
///   openWorldHint false    → public_source false, public_sink false
Labels resolve_labels(const config::ServerOptions& server, std::string_view tool,
                      const boost::json::object* annotations);

}  // namespace mcpgw::gate
