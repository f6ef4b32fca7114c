#pragma once
// Reading one JSON object of the config: typed getters that report mistakes with their JSON
// path ("gateway.security.filters[1].timeoutMs: …"), and the keys nobody asked for.
#include "config/config.hpp"

#include <boost/json/object.hpp>
#include <fmt/format.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::config {

/// "base.key" (or "key" when `base` is empty).
std::string join_path(std::string_view base, std::string_view key);
/// "a string", "an object", …: what a value is, for error messages.
std::string describe(const boost::json::value& v);

/// Walks one JSON object, reporting keys nobody asked for.
class ObjectReader {
 public:
  ObjectReader(const boost::json::object& obj, std::string path, Diagnostics& diag)
      : obj_(obj), path_(std::move(path)), diag_(diag) {}

  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;
  ~ObjectReader() { finish(); }

  /// Reports the keys nobody asked for (once; the destructor does it if nobody called it).
  void finish() {
    if (finished_) {
      return;
    }
    finished_ = true;
    for (const auto& kv : obj_) {
      if (seen_.count(std::string(kv.key())) == 0) {
        std::string expected;
        for (const auto& k : known_) {
          expected += expected.empty() ? k : ", " + k;
        }
        diag_.error(join_path(path_, kv.key()),
                    fmt::format("unknown key (expected one of: {})", expected));
      }
    }
  }

  /// A key that may be there and means nothing here (not listed among the expected ones).
  const boost::json::value* ignore(std::string_view key) {
    seen_.insert(std::string(key));
    return obj_.if_contains(key);
  }

  const boost::json::value* get(std::string_view key) {
    known_.emplace_back(key);
    seen_.insert(std::string(key));
    return obj_.if_contains(key);
  }

  std::string path(std::string_view key) const { return join_path(path_, key); }

  void str(std::string_view key, std::string& out) {
    if (const auto* v = get(key)) {
      if (v->is_string()) {
        out = std::string(v->get_string());
      } else {
        diag_.error(path(key), fmt::format("expected a string, got {}", describe(*v)));
      }
    }
  }

  void boolean(std::string_view key, bool& out) {
    if (const auto* v = get(key)) {
      if (v->is_bool()) {
        out = v->get_bool();
      } else {
        diag_.error(path(key), fmt::format("expected true or false, got {}", describe(*v)));
      }
    }
  }

  template <class T>
  void positive(std::string_view key, T& out, std::uint64_t max = std::numeric_limits<T>::max()) {
    if (const auto* v = get(key)) {
      std::int64_t n = 0;
      if (v->is_int64()) {
        n = v->get_int64();
      } else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        n = static_cast<std::int64_t>(v->get_uint64());
      } else {
        diag_.error(path(key), fmt::format("expected a positive integer, got {}", describe(*v)));
        return;
      }
      if (n <= 0 || static_cast<std::uint64_t>(n) > max) {
        diag_.error(path(key), fmt::format("expected an integer from 1 to {}, got {}", max, n));
        return;
      }
      out = static_cast<T>(n);
    }
  }

  void millis(std::string_view key, Millis& out) {
    std::int64_t n = out.count();
    positive(key, n, 7ULL * 24 * 3600 * 1000);
    out = Millis(n);
  }

  void strings(std::string_view key, std::vector<std::string>& out) {
    if (const auto* v = get(key)) {
      if (!v->is_array()) {
        diag_.error(path(key), fmt::format("expected an array of strings, got {}", describe(*v)));
        return;
      }
      out.clear();
      std::size_t i = 0;
      for (const auto& item : v->get_array()) {
        if (item.is_string()) {
          out.emplace_back(item.get_string());
        } else {
          diag_.error(fmt::format("{}[{}]", path(key), i),
                      fmt::format("expected a string, got {}", describe(item)));
        }
        ++i;
      }
    }
  }

  /// A string that must be one of `allowed`.
  void choice(std::string_view key, std::string& out,
              std::initializer_list<std::string_view> allowed) {
    std::string v = out;
    str(key, v);
    if (v == out) {
      return;
    }
    std::string names;
    for (auto a : allowed) {
      if (a == v) {
        out = std::move(v);
        return;
      }
      names += fmt::format("{}{}", names.empty() ? "" : ", ", a);
    }
    diag_.error(path(key), fmt::format("\"{}\" is not one of: {}", v, names));
  }

  /// A whole number from `min` to `max`.
  void integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max) {
    if (const auto* v = get(key)) {
      if (!v->is_int64() || v->get_int64() < min || v->get_int64() > max) {
        diag_.error(path(key), fmt::format("expected a whole number from {} to {}", min, max));
      } else {
        out = v->get_int64();
      }
    }
  }

  void error(std::string_view key, std::string_view message) { diag_.error(path(key), message); }

  void string_map(std::string_view key, std::map<std::string, std::string>& out) {
    if (const auto* v = get(key)) {
      if (!v->is_object()) {
        diag_.error(path(key), fmt::format("expected an object of strings, got {}", describe(*v)));
        return;
      }
      for (const auto& kv : v->get_object()) {
        if (kv.value().is_string()) {
          out[std::string(kv.key())] = std::string(kv.value().get_string());
        } else {
          diag_.error(join_path(path(key), kv.key()),
                      fmt::format("expected a string, got {}", describe(kv.value())));
        }
      }
    }
  }

 private:
  const boost::json::object& obj_;
  std::string path_;
  Diagnostics& diag_;
  std::vector<std::string> known_;
  std::set<std::string> seen_;
  bool finished_ = false;
};

}  // namespace mcpgw::config
