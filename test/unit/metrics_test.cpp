// The metrics registry: the exposition text Prometheus reads, label escaping, histograms, and
// the cap that keeps label values a client sends from growing the registry.
#include "common/metrics.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mcpgw::metrics {
namespace {

std::string render(const CounterFamily& f) {
  Text t;
  f.render(t);
  return t.str();
}

TEST(Metrics, CountersRenderWithHelpTypeAndLabels) {
  CounterFamily f("x_total", "Things\nthat happened", {"server", "outcome"}, 100);
  f.at({"a", "ok"}).inc();
  f.at({"a", "ok"}).inc(2);
  f.at({"b", "error"}).inc();
  EXPECT_EQ(render(f),
            "# HELP x_total Things that happened\n"
            "# TYPE x_total counter\n"
            "x_total{server=\"a\",outcome=\"ok\"} 3\n"
            "x_total{server=\"b\",outcome=\"error\"} 1\n");
}

TEST(Metrics, LabelValuesAreEscapedAndEmptyValuesKept) {
  CounterFamily f("y_total", "h", {"tool", "server"}, 100);
  f.at({"a\"b\\c\nd", ""}).inc();
  EXPECT_NE(render(f).find("y_total{tool=\"a\\\"b\\\\c\\nd\",server=\"\"} 1\n"), std::string::npos)
      << render(f);
}

TEST(Metrics, ValuesDoNotRunIntoTheNextLabel) {
  // The series key joins values with a separator: a value holding it stays one value.
  CounterFamily f("z_total", "h", {"a", "b"}, 100);
  f.at({"x\x1fy", "z"}).inc();
  f.at({"x", "y\x1fz"}).inc();
  EXPECT_EQ(f.size(), 2u);
}

TEST(Metrics, SeriesBeyondTheCapAreCountedAsOther) {
  CounterFamily f("t_total", "h", {"tool"}, 3);
  for (int i = 0; i < 50; ++i) {
    f.at({"tool" + std::to_string(i)}).inc();
  }
  EXPECT_EQ(f.size(), 3u);
  const std::string text = render(f);
  EXPECT_NE(text.find("t_total{tool=\"tool0\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_total{tool=\"tool1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_total{tool=\"_other\"} 48\n"), std::string::npos) << text;
  f.at({"tool1"}).inc();  // a series made before the cap still counts as itself
  EXPECT_NE(render(f).find("t_total{tool=\"tool1\"} 2\n"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
  HistogramFamily f("d_seconds", "h", {"m"}, 10, {0.1, 1});
  f.at({"a"}).observe(0.05);
  f.at({"a"}).observe(0.1);  // on a bound: counted in that bucket (le is inclusive)
  f.at({"a"}).observe(0.5);
  f.at({"a"}).observe(5);
  Text t;
  f.render(t);
  EXPECT_EQ(t.str(),
            "# HELP d_seconds h\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{m=\"a\",le=\"0.1\"} 2\n"
            "d_seconds_bucket{m=\"a\",le=\"1\"} 3\n"
            "d_seconds_bucket{m=\"a\",le=\"+Inf\"} 4\n"
            "d_seconds_sum{m=\"a\"} 5.65\n"
            "d_seconds_count{m=\"a\"} 4\n");
}

TEST(Metrics, TheRegistryGivesOneFamilyPerName) {
  Registry r;
  auto& a = r.counter("same_total", "h", {"x"});
  auto& b = r.counter("same_total", "other help", {"x"});
  EXPECT_EQ(&a, &b);
  a.at({"1"}).inc();
  Text t;
  r.render(t);
  EXPECT_NE(t.str().find("same_total{x=\"1\"} 1\n"), std::string::npos);
}

TEST(Metrics, UnlabelledSamplesHaveNoBraces) {
  Text t;
  t.family("g", "help", "gauge");
  t.sample("g", {}, 2.5);
  EXPECT_EQ(t.str(), "# HELP g help\n# TYPE g gauge\ng 2.5\n");
}

}  // namespace
}  // namespace mcpgw::metrics
