#pragma once
// Prometheus metrics: counters and histograms by label values, kept in one process-wide
// registry and rendered in the text exposition format (version 0.0.4). Everything here is
// touched on the event loop only: no atomics, no locks. Gauges that describe current state
// (sessions, servers, queues) are not kept here: the /metrics handler reads them when scraped
// and writes them with `Text`.
#include <boost/unordered/unordered_flat_map.hpp>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgw::metrics {

/// Writes exposition text: a family's HELP and TYPE lines, then its samples.
class Text {
 public:
  void family(std::string_view name, std::string_view help, std::string_view type);
  /// `labels`: name, value, name, value… (values are escaped here).
  void sample(std::string_view name, std::initializer_list<std::string_view> labels,
              double value);
  void sample_pairs(std::string_view name, const std::vector<std::string_view>& labels,
                    double value);
  std::string& str() noexcept { return out_; }

 private:
  std::string out_;
};

struct Counter {
  std::uint64_t value = 0;
  void inc(std::uint64_t n = 1) noexcept { value += n; }
};

struct Histogram {
  explicit Histogram(const std::vector<double>* bounds)
      : bounds(bounds), counts(bounds->size(), 0) {}
  void observe(double v) noexcept;

  const std::vector<double>* bounds;   ///< upper bounds, ascending (+Inf is implied)
  std::vector<std::uint64_t> counts;   ///< per bucket, not cumulative
  std::uint64_t count = 0;
  double sum = 0;
};

/// Series of one metric by label values. At `max_series` distinct series, further label
/// values are counted in one series whose every label is "_other": a client cannot grow the
/// registry without bound.
template <class T>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels,
         std::size_t max_series, std::vector<double> bounds = {});

  /// The series for these label values (as many as the family has labels). The reference is
  /// good until the next call.
  T& at(std::initializer_list<std::string_view> values);
  std::size_t size() const noexcept { return series_.size(); }
  void render(Text& out) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept;
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
  };
  T make() const;

  std::string name_, help_;
  std::vector<std::string> labels_;
  std::size_t max_series_;
  std::vector<double> bounds_;  ///< histograms only
  std::string key_;             ///< reused: label values joined by '\x1f'
  boost::unordered_flat_map<std::string, T, Hash, Eq> series_;
};

using CounterFamily = Family<Counter>;
using HistogramFamily = Family<Histogram>;

/// Latency buckets in seconds, from 1 ms to a minute.
const std::vector<double>& latency_buckets();

class Registry {
 public:
  /// The family of that name, made on first use (later calls get the same one).
  CounterFamily& counter(const std::string& name, std::string help,
                         std::vector<std::string> labels, std::size_t max_series = 2000);
  HistogramFamily& histogram(const std::string& name, std::string help,
                             std::vector<std::string> labels, std::vector<double> bounds,
                             std::size_t max_series = 2000);
  /// Every family's HELP, TYPE and samples, by name.
  void render(Text& out) const;

 private:
  std::map<std::string, std::unique_ptr<CounterFamily>, std::less<>> counters_;
  std::map<std::string, std::unique_ptr<HistogramFamily>, std::less<>> histograms_;
};

/// The process's registry (loop thread only).
Registry& registry();

}  // namespace mcpgw::metrics
