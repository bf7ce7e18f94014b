#include <gtest/gtest.h>

#include <thread>

#include "efm/watcher.h"

namespace sfc::efm {
namespace {

std::vector<ExportedRecord> Records(uint64_t first, uint64_t n) {
  std::vector<ExportedRecord> v;
  for (uint64_t i = 0; i < n; ++i) {
    ExportedRecord r;
    r.record.packets = first + i;
    v.push_back(r);
  }
  return v;
}

TEST(EfmWatcher, SlowReaderLosesTheOldestAndIsTold) {
  FlowWatcher w(3);
  w.Push(Records(1, 2));
  w.Push(Records(3, 3));
  std::vector<ExportedRecord> got;
  ASSERT_TRUE(w.Pop(&got, 0));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].record.packets, 3u);
  EXPECT_EQ(got[2].record.packets, 5u);
  EXPECT_EQ(w.dropped(), 2u);
}

TEST(EfmWatcher, TimeoutReturnsEmptyCloseEndsAfterDrain) {
  FlowWatcher w;
  std::vector<ExportedRecord> got;
  EXPECT_TRUE(w.Pop(&got, 10));
  EXPECT_TRUE(got.empty());
  w.Push(Records(1, 1));
  w.Close();
  ASSERT_TRUE(w.Pop(&got, 10)) << "records queued before Close() still arrive";
  EXPECT_EQ(got.size(), 1u);
  EXPECT_FALSE(w.Pop(&got, 10));
}

TEST(EfmWatcher, PushWakesAWaitingReader) {
  FlowWatcher w;
  std::vector<ExportedRecord> got;
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    w.Push(Records(7, 1));
  });
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(w.Pop(&got, 5000));
  producer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].record.packets, 7u);
}

}  // namespace
}  // namespace sfc::efm
