#include "efm/watcher.h"

#include <chrono>

namespace sfc::efm {

void FlowWatcher::Push(const std::vector<ExportedRecord>& records) {
  if (records.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : records) {
      if (queue_.size() >= max_queued_) {
        queue_.pop_front();
        ++dropped_;
      }
      queue_.push_back(r);
    }
  }
  cv_.notify_one();
}

bool FlowWatcher::Pop(std::vector<ExportedRecord>* out, int timeout_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
               [&] { return closed_ || !queue_.empty(); });
  out->assign(queue_.begin(), queue_.end());
  queue_.clear();
  return !(closed_ && out->empty());
}

void FlowWatcher::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

uint64_t FlowWatcher::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace sfc::efm
