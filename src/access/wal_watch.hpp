#pragma once
// Whether a SQLite database in WAL mode may have changed since the last look, without a
// system call on the hot path. Every commit, by any process, rewrites the WAL-index header at
// the start of the database's "-shm" file (https://www.sqlite.org/walformat.html, "The
// WAL-Index Header"); the watch maps that file read-only and compares the header with the one
// it saw last. A changed header only means "ask SQLite" (the caller then reads
// `PRAGMA data_version`), so a header read while a commit writes it is harmless. Where the
// file cannot be mapped, or does not look like a WAL index, a stat() of the "-wal" file does
// the same job.
#include <array>
#include <cstdint>
#include <string>

namespace mcpgw::access {

class WalWatch {
 public:
  /// `db_path`: the database file, opened in WAL mode by the caller (its connection keeps the
  /// "-shm" file in place while it is open).
  explicit WalWatch(std::string db_path) : db_path_(std::move(db_path)), wal_path_(db_path_ + "-wal") {}
  ~WalWatch();
  WalWatch(const WalWatch&) = delete;
  WalWatch& operator=(const WalWatch&) = delete;

  /// False when nothing can have changed since the previous call; true the first time and
  /// whenever a commit may have happened since.
  bool changed();
  /// The next changed() says true: what it saw was not acted on.
  void forget() noexcept { seen_ = false; }
  /// Whether the header is read from the mapped "-shm" file (else stat() of "-wal").
  bool mapped() const noexcept { return map_ != nullptr; }

 private:
  static constexpr std::size_t kHeader = 48;  ///< one copy of the WAL-index header
  using Stamp = std::array<unsigned char, kHeader>;

  void map_index();
  bool read_stamp(Stamp& s) const;  ///< false: no header and no log to look at

  std::string db_path_;
  std::string wal_path_;
  const void* map_ = nullptr;
  std::size_t map_size_ = 0;
  bool tried_ = false;
  bool seen_ = false;
  Stamp last_{};
};

}  // namespace mcpgw::access
