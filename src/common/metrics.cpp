#include "common/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

namespace mcpgw::metrics {

namespace {

constexpr char kJoin = '\x1f';

void escape_label(std::string& out, std::string_view v) {
  for (char ch : v) {
    switch (ch) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += ch;
    }
  }
}

void put_number(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

template <class Labels>
void put_sample(std::string& out, std::string_view name, const Labels& labels, double value) {
  out += name;
  if (labels.size() >= 2) {
    out += '{';
    bool first = true;
    for (auto it = labels.begin(); it != labels.end() && std::next(it) != labels.end();) {
      out += first ? "" : ",";
      first = false;
      out += *it++;
      out += "=\"";
      escape_label(out, *it++);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  put_number(out, value);
  out += '\n';
}

/// Label names and the values kept in a series key, interleaved for `put_sample`.
std::vector<std::string_view> pairs(const std::vector<std::string>& names, std::string_view key) {
  std::vector<std::string_view> out;
  out.reserve(names.size() * 2 + 2);
  for (const auto& n : names) {
    const auto cut = key.find(kJoin);
    out.push_back(n);
    out.push_back(key.substr(0, cut));
    key = cut == std::string_view::npos ? std::string_view() : key.substr(cut + 1);
  }
  return out;
}

void render_series(Text& out, const std::string& name, const std::vector<std::string>& labels,
                   std::string_view key, const Counter& c) {
  out.sample_pairs(name, pairs(labels, key), static_cast<double>(c.value));
}

void render_series(Text& out, const std::string& name, const std::vector<std::string>& labels,
                   std::string_view key, const Histogram& h) {
  auto l = pairs(labels, key);
  const std::string bucket = name + "_bucket";
  std::uint64_t cumulative = 0;
  std::string le;
  l.push_back("le");
  l.push_back({});
  for (std::size_t i = 0; i <= h.counts.size(); ++i) {
    const bool inf = i == h.counts.size();
    cumulative += inf ? 0 : h.counts[i];
    le.clear();
    put_number(le, inf ? INFINITY : (*h.bounds)[i]);
    l.back() = le;
    out.sample_pairs(bucket, l, static_cast<double>(inf ? h.count : cumulative));
  }
  l.resize(l.size() - 2);
  out.sample_pairs(name + "_sum", l, h.sum);
  out.sample_pairs(name + "_count", l, static_cast<double>(h.count));
}

}  // namespace

void Text::family(std::string_view name, std::string_view help, std::string_view type) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} ", name);
  for (char ch : help) {
    out_ += ch == '\n' ? std::string_view(" ") : std::string_view(&ch, 1);
  }
  fmt::format_to(std::back_inserter(out_), "\n# TYPE {} {}\n", name, type);
}

void Text::sample(std::string_view name, std::initializer_list<std::string_view> labels,
                  double value) {
  put_sample(out_, name, labels, value);
}

void Text::sample_pairs(std::string_view name, const std::vector<std::string_view>& labels,
                        double value) {
  put_sample(out_, name, labels, value);
}

void Histogram::observe(double v) noexcept {
  const auto it = std::lower_bound(bounds->begin(), bounds->end(), v);
  if (it != bounds->end()) {
    ++counts[static_cast<std::size_t>(it - bounds->begin())];
  }
  ++count;
  sum += v;
}

template <class T>
std::size_t Family<T>::Hash::operator()(std::string_view s) const noexcept {
  return std::hash<std::string_view>{}(s);
}

template <class T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> labels,
                  std::size_t max_series, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      labels_(std::move(labels)),
      max_series_(std::max<std::size_t>(max_series, 1)),
      bounds_(std::move(bounds)) {}

template <class T>
T Family<T>::make() const {
  if constexpr (std::is_same_v<T, Histogram>) {
    return Histogram(&bounds_);
  } else {
    return T{};
  }
}

template <class T>
T& Family<T>::at(std::initializer_list<std::string_view> values) {
  key_.clear();
  bool first = true;
  for (auto v : values) {
    if (!std::exchange(first, false)) {
      key_ += kJoin;
    }
    const auto start = key_.size();
    key_ += v;
    std::replace(key_.begin() + static_cast<std::ptrdiff_t>(start), key_.end(), kJoin, '?');
  }
  if (auto it = series_.find(std::string_view(key_)); it != series_.end()) {
    return it->second;
  }
  if (series_.size() + 1 >= max_series_) {
    // The last slot is kept for everything beyond the cap.
    key_.clear();
    for (std::size_t i = 0; i < labels_.size(); ++i) {
      key_ += i == 0 ? "_other" : "\x1f_other";
    }
    if (auto it = series_.find(std::string_view(key_)); it != series_.end()) {
      return it->second;
    }
  }
  return series_.emplace(key_, make()).first->second;
}

template <class T>
void Family<T>::render(Text& out) const {
  out.family(name_, help_, std::is_same_v<T, Histogram> ? "histogram" : "counter");
  std::vector<const typename decltype(series_)::value_type*> sorted;
  sorted.reserve(series_.size());
  for (const auto& kv : series_) {
    sorted.push_back(&kv);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (const auto* kv : sorted) {
    render_series(out, name_, labels_, kv->first, kv->second);
  }
}

template class Family<Counter>;
template class Family<Histogram>;

const std::vector<double>& latency_buckets() {
  static const std::vector<double> kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
  return kBuckets;
}

CounterFamily& Registry::counter(const std::string& name, std::string help,
                                 std::vector<std::string> labels, std::size_t max_series) {
  auto& slot = counters_[name];
  if (!slot) {
    slot = std::make_unique<CounterFamily>(name, std::move(help), std::move(labels), max_series);
  }
  return *slot;
}

HistogramFamily& Registry::histogram(const std::string& name, std::string help,
                                     std::vector<std::string> labels, std::vector<double> bounds,
                                     std::size_t max_series) {
  auto& slot = histograms_[name];
  if (!slot) {
    slot = std::make_unique<HistogramFamily>(name, std::move(help), std::move(labels), max_series,
                                             std::move(bounds));
  }
  return *slot;
}

void Registry::render(Text& out) const {
  for (const auto& [name, f] : counters_) {
    f->render(out);
  }
  for (const auto& [name, f] : histograms_) {
    f->render(out);
  }
}

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace mcpgw::metrics
