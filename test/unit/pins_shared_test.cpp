// Tool pins shared by replicas: the PinStore's decisions when its pins and quarantines belong
// to the cluster. Several stores ("replicas") share one table kept in memory here, written
// with the same conditions as the PostgreSQL statements (pins_pg.cpp); the real database is
// driven by test/integration/cluster.test.mjs.
#include "gate/pins.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <map>
#include <mutex>

namespace {

using mcpgw::gate::PinBackend;
using mcpgw::gate::PinRow;
using mcpgw::gate::PinStore;
using mcpgw::gate::PinWrite;

/// The shared table: rows by server/tool, each write a new version.
struct Table {
  std::mutex mutex;
  std::map<std::string, PinRow> rows;
  std::int64_t version = 0;
  bool down = false;

  std::vector<PinRow> all() {
    std::lock_guard lock(mutex);
    std::vector<PinRow> out;
    for (const auto& [k, r] : rows) out.push_back(r);
    return out;
  }
};

class TableBackend final : public PinBackend {
 public:
  explicit TableBackend(Table& t) : t_(t) {}
  bool load(std::vector<PinRow>& rows, std::string& error) override {
    if (t_.down) {
      error = "connection refused";
      return false;
    }
    rows = t_.all();
    return true;
  }
  std::optional<PinRow> write(PinWrite kind, const PinRow& p, const std::string& expect) override {
    std::lock_guard lock(t_.mutex);
    const std::string k = p.server + "/" + p.tool;
    auto it = t_.rows.find(k);
    bool changed = false;
    if (kind == PinWrite::pin && it == t_.rows.end()) {
      t_.rows[k] = p;
      changed = true;
    } else if (kind == PinWrite::quarantine) {
      if (it == t_.rows.end()) {
        PinRow r;
        r.server = p.server;
        r.tool = p.tool;
        it = t_.rows.emplace(k, r).first;
      }
      if (it->second.pending_hash.empty() && it->second.hash != p.pending_hash) {
        it->second.pending_hash = p.pending_hash;
        it->second.pending_definition = p.pending_definition;
        it->second.reason = p.reason;
        changed = true;
      }
    } else if (kind == PinWrite::approve && it != t_.rows.end() &&
               it->second.pending_hash == expect) {
      it->second.hash = std::exchange(it->second.pending_hash, "");
      it->second.definition = std::exchange(it->second.pending_definition, "");
      it->second.reason.clear();
      changed = true;
    }
    if (changed) {
      t_.rows[k].changed = ++t_.version;
    }
    return t_.rows.count(k) != 0 ? std::optional<PinRow>(t_.rows[k]) : std::nullopt;
  }
  bool shared() const override { return true; }

 private:
  Table& t_;
};

std::shared_ptr<const boost::json::array> weather(std::string_view description) {
  boost::json::array a;
  a.push_back(boost::json::object{{"name", "w"}, {"description", description}});
  return std::make_shared<const boost::json::array>(std::move(a));
}

struct Replica {
  std::shared_ptr<PinStore> pins;
  std::vector<std::string> changed;  ///< servers on_change reported
};

class SharedPins : public ::testing::Test {
 protected:
  Replica replica() {
    std::string error;
    Replica r;
    r.pins = PinStore::create(std::make_unique<TableBackend>(table_), nullptr,
                              ioc_.get_executor(), error);
    EXPECT_TRUE(r.pins) << error;
    return r;
  }
  void listen(Replica& r) {
    r.pins->on_change([&r](const std::string& s) { r.changed.push_back(s); });
  }
  /// Lets every write land and its answer reach its replica.
  void settle(std::initializer_list<Replica*> replicas) {
    for (auto* r : replicas) r->pins->flush();
    ioc_.restart();
    ioc_.poll();
  }
  /// What a replica's follower does when the table notifies.
  void follow(Replica& r) { r.pins->merge(table_.all()); }

  boost::asio::io_context ioc_;
  Table table_;
};

}  // namespace

TEST_F(SharedPins, AQuarantineSeenByOneReplicaMakesTheOthersListAgainAndAnApprovalAnywhereReleases) {
  Replica a = replica(), b = replica(), c = replica();
  listen(b);
  a.pins->screen("s", weather("weather"));
  b.pins->screen("s", weather("weather"));
  settle({&a, &b});
  ASSERT_EQ(table_.rows.size(), 1u) << "one pin for the cluster";

  // The server changes; replica a lists it first.
  EXPECT_EQ(a.pins->screen("s", weather("weather, and mails")), 1u);
  settle({&a});
  ASSERT_NE(a.pins->quarantined("s", "w"), nullptr);
  EXPECT_FALSE(table_.rows["s/w"].pending_hash.empty()) << "the quarantine is the cluster's";

  // b still holds the list from before: told, it must list the server again.
  follow(b);
  EXPECT_EQ(b.changed, std::vector<std::string>{"s"});
  EXPECT_EQ(b.pins->screen("s", weather("weather, and mails")), 1u) << "its fresh list";
  ASSERT_NE(b.pins->quarantined("s", "w"), nullptr);
  EXPECT_EQ(*b.pins->quarantined("s", "w"), "its description changed since it was pinned");

  // c never listed the tool: it knows of the quarantine all the same, and approves it.
  follow(c);
  auto listed = c.pins->list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].as_object().at("status"), "quarantined");
  EXPECT_TRUE(c.pins->approve("s", "w"));
  settle({&c});
  EXPECT_TRUE(table_.rows["s/w"].pending_hash.empty());
  follow(a);
  follow(b);
  EXPECT_EQ(a.pins->quarantined("s", "w"), nullptr) << "its server lists the approved definition";
  EXPECT_EQ(b.pins->quarantined("s", "w"), nullptr);
  EXPECT_FALSE(c.pins->approve("s", "w")) << "nothing waits any more";
}

TEST_F(SharedPins, AReplicaWhoseServerListsAnotherDefinitionHoldsItAndSaysSo) {
  Replica a = replica(), b = replica();
  // Both see the tool for the first time, each a different definition: a's lands first.
  a.pins->screen("s", weather("weather"));
  settle({&a});
  b.pins->screen("s", weather("weather, and mails"));
  EXPECT_EQ(b.pins->quarantined("s", "w"), nullptr) << "not yet known to differ";
  settle({&b});  // b's pin was not written: the answer is a's, and b screens again
  ASSERT_NE(b.pins->quarantined("s", "w"), nullptr);
  EXPECT_EQ(*b.pins->quarantined("s", "w"), "its description changed since it was pinned");
  settle({&b});
  EXPECT_FALSE(table_.rows["s/w"].pending_hash.empty()) << "b's definition waits for approval";
  follow(a);
  EXPECT_EQ(a.pins->quarantined("s", "w"), nullptr)
      << "a's server still lists the pinned definition: a keeps serving it";
}

TEST_F(SharedPins, AStoreThatCannotBeReadAtStartHoldsEveryToolUntilItIs) {
  table_.down = true;
  Replica a = replica();
  listen(a);
  std::string detail;
  EXPECT_FALSE(a.pins->loaded());
  EXPECT_FALSE(a.pins->usable(detail));
  a.pins->screen("s", weather("weather"));
  ASSERT_NE(a.pins->quarantined("s", "w"), nullptr);
  EXPECT_NE(a.pins->quarantined("s", "w")->find("cannot be read (connection refused)"),
            std::string::npos);
  table_.down = false;
  follow(a);
  EXPECT_TRUE(a.pins->loaded());
  EXPECT_EQ(a.changed, std::vector<std::string>{"s"}) << "its lists are screened now";
  EXPECT_EQ(a.pins->quarantined("s", "w"), nullptr);
  settle({&a});
  EXPECT_EQ(table_.rows.size(), 1u) << "and pinned on first sight";
}
