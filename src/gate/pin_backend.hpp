#pragma once
// Where tool pins are kept: a SQLite file for one replica, or a PostgreSQL table the replicas
// share (docs/scale-out.md). The PinStore decides on the event loop from memory; a backend
// only reads rows at start and writes one transition at a time, on the store's writer thread.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgw::gate {

/// One tool's pin as stored.
struct PinRow {
  std::string server, tool;
  std::string hash, definition;  ///< approved; empty when never approved
  std::int64_t pinned_ms = 0;
  /// A definition waiting for an administrator (shared stores keep it; SQLite does not).
  std::string pending_hash, pending_definition, reason;
  std::int64_t seen_ms = 0;
  /// The row's version in a shared store (grows with every change); 0 elsewhere.
  std::int64_t changed = 0;
};

/// What a write does to the stored row.
enum class PinWrite : std::uint8_t {
  pin,         ///< first sight: the row, unless one exists already
  quarantine,  ///< the pending definition, unless one waits already or it is the approved one
  approve,     ///< the pending definition becomes the pin, if it is still `expect`
  upgrade,     ///< the approved hash and definition, if the hash is still `expect`
};

class PinBackend {
 public:
  virtual ~PinBackend() = default;
  /// Every row; blocking. False with `error`.
  virtual bool load(std::vector<PinRow>& rows, std::string& error) = 0;
  /// Writes one transition; blocking (the writer thread). A shared store answers with the
  /// row as it is afterwards; nullopt otherwise, and when the write was given up.
  virtual std::optional<PinRow> write(PinWrite kind, const PinRow& row,
                                      const std::string& expect) = 0;
  /// Asks a write that is retrying to give up (the store is closing).
  virtual void stop() {}
  /// Shared by replicas: quarantines are stored, and rows change under the store.
  virtual bool shared() const = 0;
};

/// The SQLite file of one replica (pins only; quarantines are kept in memory).
std::unique_ptr<PinBackend> open_sqlite_pins(const std::string& path, std::string& error);

}  // namespace mcpgw::gate
