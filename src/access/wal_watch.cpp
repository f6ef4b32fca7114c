#include "access/wal_watch.hpp"

#include <atomic>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mcpgw::access {

namespace {

// The header's first field, iVersion, is this for every WAL index SQLite 3.7.0 and later
// writes; isInit (byte 12) is 1 once the header is set up.
constexpr std::uint32_t kIndexVersion = 3007000;

std::uint32_t native_u32(const unsigned char* p) {
  std::uint32_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

WalWatch::~WalWatch() {
  if (map_ != nullptr) {
    ::munmap(const_cast<void*>(map_), map_size_);
  }
}

void WalWatch::map_index() {
  tried_ = true;
  const int fd = ::open((db_path_ + "-shm").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return;
  }
  struct stat st {};
  const long page = ::sysconf(_SC_PAGESIZE);
  if (::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(kHeader) && page > 0) {
    const auto size = static_cast<std::size_t>(page);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      const auto* bytes = static_cast<const unsigned char*>(p);
      if (native_u32(bytes) == kIndexVersion && bytes[12] == 1) {
        map_ = p;
        map_size_ = size;
      } else {
        ::munmap(p, size);
      }
    }
  }
  ::close(fd);
}

bool WalWatch::read_stamp(Stamp& s) const {
  if (map_ != nullptr) {
    std::atomic_thread_fence(std::memory_order_acquire);
    std::memcpy(s.data(), map_, kHeader);
    return true;
  }
  struct stat wal {};
  if (::stat(wal_path_.c_str(), &wal) != 0) {
    return false;
  }
  const std::int64_t fields[] = {static_cast<std::int64_t>(wal.st_ino), wal.st_size,
                                 wal.st_mtim.tv_sec, wal.st_mtim.tv_nsec};
  static_assert(sizeof fields <= kHeader);
  s.fill(0);
  std::memcpy(s.data(), fields, sizeof fields);
  return true;
}

bool WalWatch::changed() {
  if (!tried_) {
    map_index();
  }
  Stamp now{};
  if (!read_stamp(now)) {
    seen_ = false;  // nothing to compare with: SQLite decides, every time
    return true;
  }
  if (seen_ && now == last_) {
    return false;
  }
  last_ = now;
  seen_ = true;
  return true;
}

}  // namespace mcpgw::access
