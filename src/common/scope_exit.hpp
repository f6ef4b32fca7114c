#pragma once
// Runs a function when the scope ends, however it ends (return, exception, or a coroutine
// frame destroyed while suspended).
#include <utility>

namespace mcpgw {

template <class F>
class [[nodiscard]] ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() { f_(); }

 private:
  F f_;
};

template <class F>
ScopeExit<F> scope_exit(F f) {
  return ScopeExit<F>(std::move(f));
}

}  // namespace mcpgw
