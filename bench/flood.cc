#include "flood.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "bench_prog.h"
#include "support/packet.h"

namespace sfc::bench {
namespace {

using Clock = std::chrono::steady_clock;

// An XDP program attached to a device in some namespace, detached on destruction.
class SinkAttachment {
 public:
  static Result<std::unique_ptr<SinkAttachment>> Attach(const std::string& ns,
                                                        const std::string& dev, int prog_fd) {
    SFC_ASSIGN_OR_RETURN(auto guard, NetnsGuard::Enter(ns));
    unsigned ifindex = if_nametoindex(dev.c_str());
    if (ifindex == 0) return ErrnoStatus("looking up " + dev + " in " + ns, errno);
    int err =
        bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
    if (err) return ErrnoStatus("attaching the sink to " + ns + "/" + dev, err);
    std::unique_ptr<SinkAttachment> a(new SinkAttachment());
    a->ns_ = ns;
    a->ifindex_ = ifindex;
    return a;
  }
  ~SinkAttachment() {
    auto guard = NetnsGuard::Enter(ns_);
    if (guard.ok()) bpf_xdp_detach(ifindex_, XDP_FLAGS_DRV_MODE, nullptr);
  }

 private:
  SinkAttachment() = default;
  std::string ns_;
  unsigned ifindex_ = 0;
};

struct GenThreadState {
  Status status;
  std::atomic<bool> done{false};
};

// Interrupts a generator's BPF_PROG_TEST_RUN (the kernel checks for pending
// signals between batches and returns EINTR). The handler does nothing.
constexpr int kStopSignal = SIGUSR1;
void OnStopSignal(int) {}

void GenLoopBody(const FloodOptions& o, int cpu, int prog_fd, const sfc::test::Bytes& frame,
                 const std::atomic<bool>& stop, GenThreadState& state) {
  auto guard = NetnsGuard::Enter(o.client_ns);
  if (!guard.ok()) {
    state.status = guard.status();
    return;
  }
  if (Status s = PinThreadToCpu(cpu); !s.ok()) {
    state.status = s;
    return;
  }
  unsigned ifindex = if_nametoindex(o.client_dev.c_str());
  if (ifindex == 0) {
    state.status = ErrnoStatus("looking up " + o.client_dev + " in " + o.client_ns, errno);
    return;
  }
  xdp_md ctx = {};
  ctx.data_end = frame.size();
  ctx.ingress_ifindex = ifindex;
  // Every call sets up and tears down a page pool, which waits for an RCU
  // grace period: calls must be long, or the generator sleeps more than it
  // sends. So one call runs until the stop signal interrupts it.
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx), .repeat = 1u << 30, .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
              .batch_size = 64);
  while (!stop.load(std::memory_order_relaxed)) {
    int err = bpf_prog_test_run_opts(prog_fd, &opts);
    if (err == -EINTR) continue;
    if (err) {
      state.status =
          ErrnoStatus("BPF_PROG_TEST_RUN (live frames) on CPU " + std::to_string(cpu), err);
      return;
    }
  }
}

void GenLoop(const FloodOptions& o, int cpu, int prog_fd, const sfc::test::Bytes& frame,
             const std::atomic<bool>& stop, GenThreadState& state) {
  GenLoopBody(o, cpu, prog_fd, frame, stop, state);
  state.done = true;
}

nlohmann::json CpuJson(const CpuTimes& t) {
  return {{"user", t.user + t.nice}, {"system", t.system},        {"irq", t.irq},
          {"softirq", t.softirq},    {"idle", t.idle + t.iowait}, {"steal", t.steal},
          {"busy", t.busy()},        {"total", t.total()},        {"hz", sysconf(_SC_CLK_TCK)}};
}

}  // namespace

Result<nlohmann::json> RunFlood(const FloodOptions& o) {
  if (o.frame_size < 42 || o.frame_size > 1514)
    return InvalidArgument(
        "--size must be within 42..1514 (Ethernet + IPv4 + UDP headers, no FCS)");
  if (o.sinks.empty()) return InvalidArgument("at least one --sink NS:DEV is needed");
  if (o.seconds <= 0 || o.seconds > 600)
    return InvalidArgument("--seconds must be within (0, 600]");

  if (o.mix_src.size() > BENCH_GEN_MAX_FRAMES / 2)
    return InvalidArgument("at most " + std::to_string(BENCH_GEN_MAX_FRAMES / 2) +
                           " mixed-in sources");

  auto build = [&](const std::string& src) {
    return sfc::test::PacketBuilder()
        .Eth(o.src_mac, o.dst_mac)
        .Ipv4(src, o.dst_ip)
        .Udp(10000, o.dst_port)
        .Payload(o.frame_size - 42)
        .Build();
  };
  sfc::test::Bytes frame = build(o.src_ip);
  std::vector<sfc::test::Bytes> templates;
  if (o.mix_src.empty()) templates.push_back(frame);
  for (const auto& src : o.mix_src) {
    templates.push_back(frame);
    templates.push_back(build(src));
  }

  BenchProgOptions gen_opts, sink_opts;
  gen_opts.gen_flows = o.flows;
  gen_opts.gen_frames = std::move(templates);
  sink_opts.sink_port = o.dst_port;
  SFC_ASSIGN_OR_RETURN(BenchSkel gen, LoadBenchProgs(gen_opts));
  SFC_ASSIGN_OR_RETURN(BenchSkel sink, LoadBenchProgs(sink_opts));
  std::vector<std::unique_ptr<SinkAttachment>> attached;
  for (const auto& [ns, dev] : o.sinks) {
    SFC_ASSIGN_OR_RETURN(auto a,
                         SinkAttachment::Attach(ns, dev, bpf_program__fd(sink->progs.bench_sink)));
    attached.push_back(std::move(a));
  }

  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;  // no SA_RESTART: the syscall must return
  sigemptyset(&sa.sa_mask);
  if (sigaction(kStopSignal, &sa, nullptr) != 0)
    return ErrnoStatus("installing the stop signal handler", errno);

  std::atomic<bool> stop{false};
  std::vector<GenThreadState> states(o.cpus.size());
  std::vector<std::thread> threads;
  int gen_fd = bpf_program__fd(gen->progs.bench_gen);
  for (size_t i = 0; i < o.cpus.size(); ++i)
    threads.emplace_back(GenLoop, std::cref(o), o.cpus[i], gen_fd, std::cref(frame),
                         std::cref(stop), std::ref(states[i]));

  auto sample =
      [&]() -> Result<std::tuple<Clock::time_point, bench_counters, bench_counters, CpuTimes>> {
    SFC_ASSIGN_OR_RETURN(bench_counters g, ReadCounters(*gen));
    SFC_ASSIGN_OR_RETURN(bench_counters s, ReadCounters(*sink));
    SFC_ASSIGN_OR_RETURN(CpuTimes c, ReadCpuTimes(o.cpus));
    return std::make_tuple(Clock::now(), g, s, c);
  };

  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup_s));
  auto first = sample();
  if (first.ok()) std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  auto last = first.ok() ? sample() : first;
  stop = true;
  // Signal until each thread is out of its syscall (a signal landing just
  // before the call would be missed otherwise).
  for (size_t i = 0; i < threads.size(); ++i) {
    while (!states[i].done) {
      pthread_kill(threads[i].native_handle(), kStopSignal);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    threads[i].join();
  }
  attached.clear();

  for (const auto& s : states)
    if (!s.status.ok()) return s.status;
  if (!first.ok()) return first.status();
  if (!last.ok()) return last.status();

  auto [t0, g0, s0, c0] = *first;
  auto [t1, g1, s1, c1] = *last;
  double dt = std::chrono::duration<double>(t1 - t0).count();
  uint64_t generated = g1.packets - g0.packets, delivered = s1.packets - s0.packets;
  return nlohmann::json{{"frame_size", o.frame_size},
                        {"flows", o.flows},
                        {"mixed_sources", o.mix_src.size()},
                        {"cpus", o.cpus},
                        {"seconds", dt},
                        {"generated", generated},
                        {"delivered", delivered},
                        {"offered_pps", generated / dt},
                        {"pps", delivered / dt},
                        {"bits_per_s", (s1.bytes - s0.bytes) * 8 / dt},
                        {"cpu", CpuJson(c1 - c0)}};
}

}  // namespace sfc::bench
