#include "monitor/hub.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <time.h>

#include <cstring>

#include "common/log.h"
#include "engine/bpf_util.h"

namespace sfc::monitor {

namespace {

constexpr auto kPollMs = 100;
constexpr auto kTick = std::chrono::seconds(1);

int64_t ClockNs(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

Counters Minus(const Counters& a, const Counters& b) {
  auto sub = [](uint64_t x, uint64_t y) { return x > y ? x - y : 0; };
  return {sub(a.events, b.events), sub(a.lost, b.lost), sub(a.rate_limited, b.rate_limited),
          sub(a.sampled_out, b.sampled_out)};
}

}  // namespace

// --- Subscription ---

void Subscription::Push(const Event& ev) {
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    if (queue_.size() >= kQueueLimit) {
      ++slow_reader_;
      return;
    }
    queue_.push_back(ev);
  }
  cv_.notify_one();
}

void Subscription::SetCounters(const Counters& now) {
  std::lock_guard lock(mu_);
  now_ = now;
}

void Subscription::End(Status why) {
  {
    std::lock_guard lock(mu_);
    if (ended_) return;
    ended_ = true;
    end_ = std::move(why);
  }
  cv_.notify_all();
}

bool Subscription::Next(std::vector<Event>* out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || ended_; });
  out->assign(queue_.begin(), queue_.end());
  queue_.clear();
  return !ended_ || !out->empty();
}

Counters Subscription::lost() const {
  std::lock_guard lock(mu_);
  return Minus(now_, base_);
}

uint64_t Subscription::slow_reader() const {
  std::lock_guard lock(mu_);
  return slow_reader_;
}

// --- Hub ---

struct Hub::Tap {
  std::string chain;
  const PinLayout* pins = nullptr;
  ChainMonitorMaps maps;
  ring_buffer* rb = nullptr;
  std::thread thread;
  std::atomic<bool> stop{false};
  bool discard = false;  // draining what an earlier watch left in the ring

  std::mutex mu;  // everything below
  std::vector<std::shared_ptr<Subscription>> subs;
  ChainSpec spec;
  std::map<std::string, UniqueFd> rule_ids;  // per firewall instance, opened on demand
  int64_t realtime_offset_ns = 0;            // CLOCK_REALTIME - CLOCK_MONOTONIC
  sfc_monitor_config written{};

  ~Tap() { ring_buffer__free(rb); }

  // The id of the firewall rule owning counter slot `slot`; "" if unknown.
  std::string RuleId(const std::string& vnf, uint32_t slot) {
    auto it = rule_ids.find(vnf);
    if (it == rule_ids.end()) {
      auto fd = OpenPinned(pins->VnfMap(chain, vnf, "rule_ids"));
      if (!fd.ok()) return "";
      it = rule_ids.emplace(vnf, std::move(fd).value()).first;
    }
    char id[65] = {};
    if (bpf_map_lookup_elem(it->second.get(), &slot, id) != 0) return "";
    return id;
  }
};

// The ring buffer's callback, on the tap's thread: names what the event
// carries as numbers and hands it to every watcher that wants it.
int Hub::OnEvent(void* ctx, void* data, size_t size) {
  auto* t = static_cast<Tap*>(ctx);
  if (t->discard || size < sizeof(sfc_event)) return 0;
  Event ev;
  std::memcpy(&ev.raw, data, sizeof(ev.raw));
  std::lock_guard lock(t->mu);
  ev.unix_ns = static_cast<int64_t>(ev.raw.ts_ns) + t->realtime_offset_ns;
  if (ev.raw.stage == SFC_STAGE_ENTRY) {
    ev.vnf = "entry";
  } else if (ev.raw.stage == SFC_STAGE_EGRESS) {
    ev.vnf = "egress";
  } else if (ev.raw.stage < t->spec.vnfs.size()) {
    ev.vnf = t->spec.vnfs[ev.raw.stage].name;
    ev.vnf_type = t->spec.vnfs[ev.raw.stage].type;
  }
  if (ev.raw.reason == SFC_REASON_FW_RULE && ev.vnf_type == "firewall")
    ev.rule_id = t->RuleId(ev.vnf, ev.raw.detail);
  for (const auto& sub : t->subs) {
    Settings s = sub->options_.settings;
    s.stages = SFC_MON_STAGES_ALL;  // by name below: slots move with re-applies
    if (!Wants(s, ev.raw)) continue;
    if (!sub->options_.vnf.empty() && sub->options_.vnf != ev.vnf) continue;
    sub->Push(ev);
  }
  return 0;
}

Hub::Hub(ChainEngine& engine) : engine_(engine) {}

Hub::~Hub() { Stop(); }

void Hub::ResetAll() {
  for (const auto& info : engine_.List()) {
    auto maps = ChainMonitorMaps::Open(engine_.pins(), info.spec.name);
    if (!maps.ok()) continue;
    auto cfg = maps->Read();
    if (cfg.ok() && cfg->mode != SFC_MON_OFF) {
      log::Warn("monitor.reset", {{"chain", info.spec.name}, {"reason", "on without a watcher"}});
      (void)maps->Write(ToConfig(Settings{}));
    }
  }
}

Settings Hub::MergedFor(const Tap& tap) {
  std::vector<Settings> all;
  for (const auto& sub : tap.subs) {
    Settings s = sub->options_.settings;
    const std::string& vnf = sub->options_.vnf;
    if (vnf.empty()) {
      s.stages = SFC_MON_STAGES_ALL;
    } else if (vnf == "entry") {
      s.stages = SFC_MON_STAGE_ENTRY;
    } else if (vnf == "egress") {
      s.stages = SFC_MON_STAGE_EGRESS;
    } else {
      s.stages = 0;
      for (size_t i = 0; i < tap.spec.vnfs.size(); ++i)
        if (tap.spec.vnfs[i].name == vnf) s.stages = StageBit(i);
    }
    all.push_back(s);
  }
  return Merge(all);
}

Result<std::shared_ptr<Subscription>> Hub::Subscribe(const std::string& chain,
                                                     const WatchOptions& options) {
  SFC_ASSIGN_OR_RETURN(ChainInfo info, engine_.Get(chain));
  if (!options.vnf.empty() && options.vnf != "entry" && options.vnf != "egress") {
    bool found = false;
    for (const auto& v : info.spec.vnfs) found |= v.name == options.vnf;
    if (!found) return NotFound("chain \"" + chain + "\" has no VNF \"" + options.vnf + "\"");
  }

  std::lock_guard lock(mu_);
  auto it = taps_.find(chain);
  if (it == taps_.end()) {
    auto tap = std::make_unique<Tap>();
    tap->chain = chain;
    tap->pins = &engine_.pins();
    SFC_ASSIGN_OR_RETURN(tap->maps, ChainMonitorMaps::Open(engine_.pins(), chain));
    tap->rb = ring_buffer__new(tap->maps.events_fd(), &Hub::OnEvent, tap.get(), nullptr);
    if (!tap->rb) return ErrnoStatus("reading the ring buffer of chain \"" + chain + "\"", errno);
    // Events an earlier watch left behind are not this one's.
    tap->discard = true;
    ring_buffer__consume(tap->rb);
    tap->discard = false;
    it = taps_.emplace(chain, std::move(tap)).first;
  }
  Tap* tap = it->second.get();
  auto base = tap->maps.ReadCounters();
  Status st = base.status();
  auto sub = std::shared_ptr<Subscription>(
      new Subscription(chain, options, base.ok() ? *base : Counters{}));
  if (st.ok()) {
    sub->SetCounters(*base);
    std::lock_guard tl(tap->mu);
    tap->spec = info.spec;
    tap->subs.push_back(sub);
    tap->realtime_offset_ns = ClockNs(CLOCK_REALTIME) - ClockNs(CLOCK_MONOTONIC);
    sfc_monitor_config want = ToConfig(MergedFor(*tap));
    st = tap->maps.Write(want);
    if (st.ok())
      tap->written = want;
    else
      tap->subs.pop_back();
  }
  if (!st.ok()) {
    if (!tap->thread.joinable()) taps_.erase(it);  // nobody else uses it
    return st;
  }
  if (!tap->thread.joinable()) tap->thread = std::thread([this, tap] { Run(tap); });
  log::Info("monitor.watch", {{"chain", chain},
                              {"vnf", options.vnf},
                              {"mode", options.settings.mode == SFC_MON_ALL ? "all" : "drops"},
                              {"watchers", std::to_string(tap->subs.size())}});
  return sub;
}

void Hub::Run(Tap* tap) {
  auto next_tick = std::chrono::steady_clock::now() + kTick;
  while (!tap->stop) {
    int n = ring_buffer__poll(tap->rb, kPollMs);
    if (n < 0 && n != -EINTR) {
      log::Error("monitor.poll_failed", {{"chain", tap->chain}, {"error", std::strerror(-n)}});
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
    if (std::chrono::steady_clock::now() < next_tick) continue;
    next_tick += kTick;

    // Once a second: the chain's spec (slots move with re-applies), the
    // settings that follow from it, and the counters.
    auto info = engine_.Get(tap->chain);
    auto counters = tap->maps.ReadCounters();
    std::lock_guard lock(tap->mu);
    if (!info.ok()) {
      for (const auto& sub : tap->subs) sub->End(NotFound("chain \"" + tap->chain + "\" is gone"));
      continue;
    }
    tap->spec = info->spec;
    tap->rule_ids.clear();
    tap->realtime_offset_ns = ClockNs(CLOCK_REALTIME) - ClockNs(CLOCK_MONOTONIC);
    sfc_monitor_config want = ToConfig(MergedFor(*tap));
    if (std::memcmp(&want, &tap->written, sizeof(want)) != 0 && tap->maps.Write(want).ok())
      tap->written = want;
    if (counters.ok())
      for (const auto& sub : tap->subs) sub->SetCounters(*counters);
  }
}

void Hub::Unsubscribe(const std::shared_ptr<Subscription>& sub) {
  std::unique_ptr<Tap> gone;
  {
    std::lock_guard lock(mu_);
    auto it = taps_.find(sub->chain_);
    if (it == taps_.end()) return;
    Tap* tap = it->second.get();
    std::lock_guard tl(tap->mu);
    std::erase(tap->subs, sub);
    if (tap->subs.empty()) {
      // Off again, before a new watcher can turn it on: the data plane is
      // back to one branch per stage. (A chain deleted meanwhile has no map
      // left to write, which is fine.) The tap's thread, still running until
      // joined below, sees nothing left to write.
      tap->written = ToConfig(Settings{});
      (void)tap->maps.Write(tap->written);
      gone = std::move(it->second);
      taps_.erase(it);
    } else {
      tap->written = ToConfig(MergedFor(*tap));
      (void)tap->maps.Write(tap->written);
    }
  }
  sub->End(Status::Ok());
  if (!gone) return;
  gone->stop = true;
  if (gone->thread.joinable()) gone->thread.join();
  log::Info("monitor.off", {{"chain", gone->chain}});
}

void Hub::Stop() {
  std::map<std::string, std::unique_ptr<Tap>> taps;
  {
    std::lock_guard lock(mu_);
    taps.swap(taps_);
  }
  for (auto& [chain, tap] : taps) {
    {
      std::lock_guard tl(tap->mu);
      for (const auto& sub : tap->subs) sub->End(Status(Code::kUnavailable, "sfcd is stopping"));
    }
    tap->stop = true;
    if (tap->thread.joinable()) tap->thread.join();
    (void)tap->maps.Write(ToConfig(Settings{}));
  }
}

}  // namespace sfc::monitor
