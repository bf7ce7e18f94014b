// The expiry engine driven by a fake clock and a fake flow table: every packet
// the "data plane" counted must come out in exactly one record.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <map>

#include "efm/flow_tracker.h"

namespace sfc::efm {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

// A stand-in for the BPF flow table and the exporter's scan loop.
class FakeTable {
 public:
  explicit FakeTable(FlowTracker* t) : tracker_(t) {}

  void Packet(const FlowKey& k, uint64_t now, uint64_t bytes, uint8_t flags = 0) {
    auto it = entries_.find(Bytes(k));
    if (it == entries_.end()) {
      ++created_;
      it = entries_.emplace(Bytes(k), Entry{k, {0, 0, now, now, 0}}).first;
    }
    auto& c = it->second.c;
    c.packets++;
    c.bytes += bytes;
    c.last_seen_ns = now;
    c.tcp_flags |= flags;
    sent_packets_ += 1;
    sent_bytes_ += bytes;
  }
  // The LRU dropping an entry on its own.
  void Evict(const FlowKey& k) { entries_.erase(Bytes(k)); }

  // One exporter scan. `between` runs after the read and before the takes,
  // like packets arriving while the daemon works. `read_at`, if set, is when
  // the table is read (a big table's batch that comes later in the scan).
  void Scan(uint64_t now, bool final = false, const std::function<void()>& between = {},
            uint64_t read_at = 0) {
    tracker_->BeginScan(now, created_, final);
    if (read_at) tracker_->ReadAt(read_at);
    std::vector<std::pair<FlowKey, EndReason>> expire;
    for (const auto& [_, e] : entries_)
      if (auto r = tracker_->Observe(e.key, e.c, &records_)) expire.push_back({e.key, *r});
    if (between) between();
    for (const auto& [k, reason] : expire) {
      auto it = entries_.find(Bytes(k));
      if (it == entries_.end()) {
        tracker_->Taken(k, nullptr, reason, &records_);
      } else {
        FlowCounters taken = it->second.c;
        entries_.erase(it);
        tracker_->Taken(k, &taken, reason, &records_);
      }
    }
    tracker_->EndScan(&records_);
  }

  uint64_t ExportedPackets() const {
    uint64_t n = 0;
    for (const auto& r : records_) n += r.packets;
    return n;
  }
  uint64_t ExportedBytes() const {
    uint64_t n = 0;
    for (const auto& r : records_) n += r.bytes;
    return n;
  }

  std::vector<FlowRecord> records_;
  uint64_t sent_packets_ = 0, sent_bytes_ = 0;
  size_t size() const { return entries_.size(); }
  // A daemon restart: a new tracker takes over the same table.
  void set_tracker(FlowTracker* t) { tracker_ = t; }

 private:
  struct Entry {
    FlowKey key;
    FlowCounters c;
  };
  static std::string Bytes(const FlowKey& k) {
    return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
  }
  FlowTracker* tracker_;
  std::map<std::string, Entry> entries_;
  uint64_t created_ = 0;
};

FlowKey Key(const char* src, uint16_t sport, uint8_t proto = IPPROTO_UDP) {
  FlowKey k;
  const bool v6 = std::string(src).find(':') != std::string::npos;
  EXPECT_TRUE(MakeFlowKey(src, v6 ? "2001:db8::53" : "192.0.2.1", proto, sport, 53, &k));
  return k;
}

TrackerConfig Config(uint64_t idle_s, uint64_t active_s) {
  return TrackerConfig{idle_s * kSec, active_s * kSec, 1 * kSec};
}

TEST(EfmTracker, IdleFlowBecomesOneRecord) {
  FlowTracker t(Config(10, 60));
  FakeTable table(&t);
  const FlowKey k = Key("10.0.0.1", 1000);
  table.Packet(k, 100 * kSec, 100);
  table.Packet(k, 101 * kSec, 200);
  table.Scan(102 * kSec);
  EXPECT_TRUE(table.records_.empty()) << "flow is not idle yet";
  EXPECT_EQ(t.totals().active_flows, 1u);
  table.Scan(111 * kSec);  // 10 s after the last packet
  ASSERT_EQ(table.records_.size(), 1u);
  const FlowRecord& r = table.records_[0];
  EXPECT_EQ(r.reason, EndReason::kIdleTimeout);
  EXPECT_EQ(r.packets, 2u);
  EXPECT_EQ(r.bytes, 300u);
  EXPECT_EQ(r.start_ns, 100 * kSec);
  EXPECT_EQ(r.end_ns, 101 * kSec);
  EXPECT_EQ(table.size(), 0u) << "expired entry is taken out of the table";
  EXPECT_EQ(t.totals().active_flows, 0u);
  EXPECT_EQ(t.totals().evictions, 0u);
}

TEST(EfmTracker, ActiveTimeoutExportsDeltasAndNothingTwice) {
  FlowTracker t(Config(5, 10));
  FakeTable table(&t);
  const FlowKey k = Key("10.0.0.1", 1000);
  for (uint64_t s = 0; s < 35; ++s) {
    table.Packet(k, (100 + s) * kSec, 10 + s);
    table.Scan((100 + s) * kSec + kSec / 2);
  }
  table.Scan(200 * kSec);  // idle now
  ASSERT_GE(table.records_.size(), 4u);
  for (size_t i = 0; i + 1 < table.records_.size(); ++i) {
    EXPECT_EQ(table.records_[i].reason, EndReason::kActiveTimeout);
    EXPECT_LE(table.records_[i].end_ns, table.records_[i + 1].start_ns);
  }
  EXPECT_EQ(table.records_.back().reason, EndReason::kIdleTimeout);
  EXPECT_EQ(table.ExportedPackets(), table.sent_packets_);
  EXPECT_EQ(table.ExportedBytes(), table.sent_bytes_);
  EXPECT_EQ(table.records_[0].start_ns, 100 * kSec);
  // A record after an active export starts at its first packet (one packet
  // per scan here, so known exactly).
  EXPECT_GE(table.records_[1].start_ns, table.records_[0].end_ns + kSec);
}

// The record that follows an active-timeout record cannot know its first
// packet (the data plane does not mark where a record ended; see
// docs/flowmon.md). Its start is the time the exporter read the counters the
// previous record was cut from: every later packet came after that read. It
// never precedes the previous record's end, even when packets arrived between
// the start of the scan and the read of the flow's batch (a large table).
TEST(EfmTracker, RecordAfterAnActiveTimeoutStartsAtThePreviousRead) {
  FlowTracker t(Config(30, 10));
  FakeTable table(&t);
  const FlowKey k = Key("10.0.0.1", 1000);
  table.Packet(k, 100 * kSec, 10);
  // The scan begins at 110 s; the flow's batch is read 1.5 s later, after
  // three more packets.
  for (uint64_t ms : {110500, 111000, 111400}) table.Packet(k, ms * kSec / 1000, 10);
  table.Scan(110 * kSec, false, {}, 111500 * kSec / 1000);
  ASSERT_EQ(table.records_.size(), 1u);
  EXPECT_EQ(table.records_[0].reason, EndReason::kActiveTimeout);
  EXPECT_EQ(table.records_[0].packets, 4u);
  EXPECT_EQ(table.records_[0].end_ns, 111400 * kSec / 1000);

  table.Packet(k, 111600 * kSec / 1000, 10);
  table.Packet(k, 111800 * kSec / 1000, 10);
  table.Scan(112 * kSec);
  table.Scan(150 * kSec);  // idle
  ASSERT_EQ(table.records_.size(), 2u);
  const FlowRecord& r = table.records_[1];
  EXPECT_EQ(r.reason, EndReason::kIdleTimeout);
  EXPECT_EQ(r.packets, 2u);
  EXPECT_EQ(r.start_ns, 111500 * kSec / 1000) << "the read the previous record was cut at";
  EXPECT_GE(r.start_ns, table.records_[0].end_ns) << "records of one flow never overlap";
  EXPECT_LE(r.start_ns, 111600 * kSec / 1000) << "not after the first packet";
  EXPECT_EQ(r.end_ns, 111800 * kSec / 1000);
  EXPECT_EQ(table.ExportedPackets(), table.sent_packets_);
}

TEST(EfmTracker, PacketsBetweenReadAndTakeAreInTheFinalRecord) {
  FlowTracker t(Config(10, 60));
  FakeTable table(&t);
  const FlowKey k = Key("10.0.0.1", 1000);
  table.Packet(k, 100 * kSec, 100);
  // Read sees an idle flow; a late packet lands before the delete.
  table.Scan(110 * kSec, false, [&] { table.Packet(k, 110 * kSec, 40); });
  ASSERT_EQ(table.records_.size(), 1u);
  EXPECT_EQ(table.records_[0].packets, 2u);
  EXPECT_EQ(table.records_[0].bytes, 140u);
  // A packet after the delete starts a new flow, a new record.
  table.Packet(k, 111 * kSec, 60);
  table.Scan(130 * kSec);
  ASSERT_EQ(table.records_.size(), 2u);
  EXPECT_EQ(table.records_[1].packets, 1u);
  EXPECT_EQ(table.records_[1].start_ns, 111 * kSec);
  EXPECT_EQ(table.ExportedPackets(), table.sent_packets_);
}

TEST(EfmTracker, TcpFinEndsFlowEarly) {
  FlowTracker t(Config(15, 60));
  FakeTable table(&t);
  const FlowKey k = Key("10.0.0.1", 40000, IPPROTO_TCP);
  table.Packet(k, 100 * kSec, 60, SFC_TCP_SYN);
  table.Packet(k, 100 * kSec + 1000, 52, SFC_TCP_ACK);
  table.Packet(k, 101 * kSec, 52, SFC_TCP_FIN | SFC_TCP_ACK);
  table.Scan(101 * kSec + kSec / 2);
  EXPECT_TRUE(table.records_.empty()) << "linger for the last ACK";
  table.Packet(k, 101 * kSec + kSec / 2, 52, SFC_TCP_ACK);
  table.Scan(103 * kSec);
  ASSERT_EQ(table.records_.size(), 1u);
  EXPECT_EQ(table.records_[0].reason, EndReason::kEndOfFlow);
  EXPECT_EQ(table.records_[0].packets, 4u);
  EXPECT_EQ(table.records_[0].tcp_flags, SFC_TCP_SYN | SFC_TCP_ACK | SFC_TCP_FIN);

  // UDP never ends on flags.
  const FlowKey u = Key("10.0.0.2", 4000, IPPROTO_UDP);
  table.Packet(u, 200 * kSec, 60, SFC_TCP_FIN);
  table.Scan(205 * kSec);
  EXPECT_EQ(table.records_.size(), 1u);
}

TEST(EfmTracker, EvictedFlowIsReportedFromItsLastSnapshot) {
  FlowTracker t(Config(10, 60));
  FakeTable table(&t);
  const FlowKey a = Key("10.0.0.1", 1), b = Key("10.0.0.2", 2);
  table.Packet(a, 100 * kSec, 100);
  table.Packet(b, 100 * kSec, 100);
  table.Scan(101 * kSec);
  table.Packet(a, 101 * kSec, 50);  // after the snapshot: lost with the entry
  table.Evict(a);
  table.Scan(102 * kSec);
  ASSERT_EQ(table.records_.size(), 1u);
  EXPECT_EQ(table.records_[0].reason, EndReason::kLackOfResources);
  EXPECT_EQ(table.records_[0].packets, 1u);
  EXPECT_EQ(t.totals().evictions, 1u);
  EXPECT_EQ(t.totals().active_flows, 1u);
}

TEST(EfmTracker, EvictionsBetweenScansAreCountedFromCreated) {
  FlowTracker t(Config(10, 60));
  FakeTable table(&t);
  table.Scan(100 * kSec);  // baseline: empty table
  for (uint16_t i = 0; i < 10; ++i) {
    const FlowKey k = Key("10.0.0.1", 1000 + i);
    table.Packet(k, 100 * kSec, 100);
    if (i < 6) table.Evict(k);  // never seen by a scan
  }
  table.Scan(101 * kSec);
  EXPECT_EQ(t.totals().evictions, 6u);
  EXPECT_EQ(t.totals().active_flows, 4u);
  // Expiring flows ourselves is not eviction.
  table.Scan(120 * kSec);
  EXPECT_EQ(t.totals().evictions, 6u);
  EXPECT_EQ(t.totals().active_flows, 0u);
}

TEST(EfmTracker, LossesBeforeWeLookedAreNotOurs) {
  FlowTracker t(Config(10, 60));
  FakeTable table(&t);
  // An earlier daemon lifetime: 3 flows created and evicted, 5 still live.
  for (uint16_t i = 0; i < 3; ++i) {
    table.Packet(Key("10.9.9.9", i), 90 * kSec, 1);
    table.Evict(Key("10.9.9.9", i));
  }
  for (uint16_t i = 0; i < 5; ++i) table.Packet(Key("10.0.0.1", i), 100 * kSec, 1);
  table.Scan(101 * kSec);
  EXPECT_EQ(t.totals().evictions, 0u);
  EXPECT_EQ(t.totals().active_flows, 5u);
  table.Evict(Key("10.0.0.1", 0));
  table.Scan(102 * kSec);
  EXPECT_EQ(t.totals().evictions, 1u);
  EXPECT_EQ(t.totals().active_flows, 4u);
}

// A new instance's table: what it lost before the exporter's first scan is
// counted too (a flood can fill a new table before the first scan).
TEST(EfmTracker, NewTableCountsLossesBeforeTheFirstScan) {
  FlowTracker t(Config(10, 60));
  t.StartsEmpty();
  FakeTable table(&t);
  for (uint16_t i = 0; i < 8; ++i) {
    table.Packet(Key("10.0.0.1", i), 100 * kSec, 1);
    if (i < 3) table.Evict(Key("10.0.0.1", i));
  }
  table.Scan(101 * kSec);
  EXPECT_EQ(t.totals().evictions, 3u);
  EXPECT_EQ(t.totals().active_flows, 5u);
}

TEST(EfmTracker, RecreatedEntryIsTwoFlows) {
  FlowTracker t(Config(10, 60));
  FakeTable table(&t);
  const FlowKey k = Key("10.0.0.1", 1);
  table.Packet(k, 100 * kSec, 100);
  table.Packet(k, 100 * kSec, 100);
  table.Scan(101 * kSec);
  table.Evict(k);
  table.Packet(k, 102 * kSec, 7);
  table.Scan(103 * kSec);
  ASSERT_EQ(table.records_.size(), 1u);
  EXPECT_EQ(table.records_[0].reason, EndReason::kLackOfResources);
  EXPECT_EQ(table.records_[0].packets, 2u);
  table.Scan(200 * kSec);
  ASSERT_EQ(table.records_.size(), 2u);
  EXPECT_EQ(table.records_[1].packets, 1u);
  EXPECT_EQ(table.records_[1].bytes, 7u);
  EXPECT_EQ(table.records_[1].start_ns, 102 * kSec);
}

TEST(EfmTracker, EntryGoneBeforeTakeIsAnEviction) {
  FlowTracker t(Config(10, 60));
  FakeTable table(&t);
  const FlowKey k = Key("10.0.0.1", 1);
  table.Packet(k, 100 * kSec, 100);
  table.Scan(110 * kSec, false, [&] { table.Evict(k); });
  ASSERT_EQ(table.records_.size(), 1u);
  EXPECT_EQ(table.records_[0].reason, EndReason::kLackOfResources);
  EXPECT_EQ(table.records_[0].packets, 1u);
}

TEST(EfmTracker, FinalScanForcesEveryFlowOut) {
  FlowTracker t(Config(10, 60));
  FakeTable table(&t);
  table.Packet(Key("10.0.0.1", 1), 100 * kSec, 100);
  table.Packet(Key("2001:db8::1", 2), 100 * kSec, 100);
  table.Scan(100 * kSec + 1, /*final=*/true);
  ASSERT_EQ(table.records_.size(), 2u);
  for (const auto& r : table.records_) EXPECT_EQ(r.reason, EndReason::kForcedEnd);
  EXPECT_EQ(table.size(), 0u);
}

class MemoryStore : public ExportStateStore {
 public:
  std::optional<SavedExport> Load(const FlowKey& k) override {
    ++loads;
    auto it = saved.find(Bytes(k));
    if (it == saved.end()) return std::nullopt;
    return it->second;
  }
  void Save(const FlowKey& k, const SavedExport& s) override { saved[Bytes(k)] = s; }
  void Erase(const FlowKey& k) override { saved.erase(Bytes(k)); }
  static std::string Bytes(const FlowKey& k) {
    return std::string(reinterpret_cast<const char*>(&k), sizeof(k));
  }
  std::map<std::string, SavedExport> saved;
  int loads = 0;
};

TEST(EfmTracker, RestartedDaemonContinuesDeltas) {
  MemoryStore store;
  auto first = std::make_unique<FlowTracker>(Config(5, 10), &store);
  FakeTable table(first.get());
  const FlowKey k = Key("10.0.0.1", 1000), other = Key("10.0.0.2", 2000);
  for (uint64_t s = 0; s < 12; ++s) {
    table.Packet(k, (100 + s) * kSec, 100);
    table.Scan((100 + s) * kSec + kSec / 2);
  }
  table.Packet(other, 111 * kSec, 1);
  ASSERT_EQ(table.records_.size(), 1u);
  EXPECT_EQ(table.records_[0].reason, EndReason::kActiveTimeout);
  EXPECT_EQ(store.saved.size(), 1u) << "the partly exported flow is persisted";

  // sfcd restarts: a fresh tracker over the same table and store.
  first.reset();
  FlowTracker second(Config(5, 10), &store);
  table.set_tracker(&second);
  table.Packet(k, 112 * kSec, 100);
  table.Packet(k, 113 * kSec, 100);
  table.Scan(113 * kSec + kSec / 2);
  table.Scan(200 * kSec);  // everything idles out
  EXPECT_EQ(table.ExportedPackets(), table.sent_packets_) << "nothing exported twice";
  EXPECT_EQ(table.ExportedBytes(), table.sent_bytes_);
  EXPECT_TRUE(store.saved.empty()) << "ended flows leave no state behind";
  for (size_t i = 1; i < table.records_.size(); ++i) {
    if (FlowKeyEq()(table.records_[i].key, k)) {
      EXPECT_GE(table.records_[i].start_ns, table.records_[0].end_ns) << "record " << i;
    }
  }
  // Only the first scan after the restart consulted the store.
  const int loads = store.loads;
  table.Packet(Key("10.0.0.3", 3), 201 * kSec, 1);
  table.Scan(202 * kSec);
  EXPECT_EQ(store.loads, loads);
}

TEST(EfmTracker, StaleSavedStateIsDiscarded) {
  MemoryStore store;
  const FlowKey k = Key("10.0.0.1", 1000);
  store.Save(k, SavedExport{1, 50, 5000, 2});  // an entry evicted while sfcd was down
  FlowTracker t(Config(5, 10), &store);
  FakeTable table(&t);
  table.Packet(k, 100 * kSec, 100);
  table.Scan(101 * kSec);
  EXPECT_TRUE(store.saved.empty());
  table.Scan(200 * kSec);
  ASSERT_EQ(table.records_.size(), 1u);
  EXPECT_EQ(table.records_[0].packets, 1u);
}

TEST(EfmTracker, RatesFollowTheLastTwoScans) {
  FlowTracker t(Config(100, 600));
  FakeTable table(&t);
  const FlowKey k = Key("10.0.0.1", 1);
  table.Packet(k, 100 * kSec, 1000);
  table.Scan(100 * kSec);
  for (int i = 0; i < 4; ++i) table.Packet(k, 101 * kSec, 500);
  table.Scan(102 * kSec);
  std::vector<FlowView> views;
  t.ForEachFlow([&](const FlowView& v) { views.push_back(v); });
  ASSERT_EQ(views.size(), 1u);
  EXPECT_DOUBLE_EQ(views[0].bytes_per_s, 1000.0);  // 2000 bytes in 2 s
  EXPECT_DOUBLE_EQ(views[0].packets_per_s, 2.0);
  EXPECT_EQ(views[0].counters.packets, 5u);
}

}  // namespace
}  // namespace sfc::efm
