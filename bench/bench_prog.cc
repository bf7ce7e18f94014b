#include "bench_prog.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>

#include <cstdio>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace sfc::bench {

namespace {

Status ParseMac(const std::string& text, uint8_t out[6]) {
  unsigned b[6];
  char tail;
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                  &tail) != 6)
    return InvalidArgument("\"" + text + "\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
  for (int i = 0; i < 6; ++i) {
    if (b[i] > 0xff)
      return InvalidArgument("\"" + text + "\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
    out[i] = static_cast<uint8_t>(b[i]);
  }
  return Status::Ok();
}

}  // namespace

Result<BenchSkel> LoadBenchProgs(const BenchProgOptions& options) {
  if (options.gen_flows == 0) return InvalidArgument("gen_flows must be at least 1");
  if (options.gen_frames.size() > BENCH_GEN_MAX_FRAMES)
    return InvalidArgument("at most " + std::to_string(BENCH_GEN_MAX_FRAMES) +
                           " generator templates");
  for (const auto& f : options.gen_frames)
    if (f.size() < BENCH_GEN_HEADER_LEN) return InvalidArgument("generator frame too short");
  BenchSkel skel(sfc_bench_xdp__open());
  if (!skel) return ErrnoStatus("opening bench_xdp.bpf.o", errno);
  skel->rodata->gen_flows = options.gen_flows;
  skel->rodata->gen_nframes =
      std::max<uint32_t>(1, static_cast<uint32_t>(options.gen_frames.size()));
  skel->rodata->gen_base_port = options.gen_base_port;
  skel->rodata->sink_port = options.sink_port;
  if (!options.redirect_dst_mac.empty())
    SFC_RETURN_IF_ERROR(ParseMac(options.redirect_dst_mac, skel->bss->redirect_macs.dmac));
  if (!options.redirect_src_mac.empty())
    SFC_RETURN_IF_ERROR(ParseMac(options.redirect_src_mac, skel->bss->redirect_macs.smac));
  int err = sfc_bench_xdp__load(skel.get());
  if (err) return ErrnoStatus("loading bench_xdp.bpf.o", err);
  int frames_fd = bpf_map__fd(skel->maps.gen_frames);
  for (uint32_t i = 0; i < options.gen_frames.size(); ++i) {
    bench_gen_frame value = {};
    std::copy_n(options.gen_frames[i].begin(), BENCH_GEN_HEADER_LEN, value.header);
    if (bpf_map_update_elem(frames_fd, &i, &value, BPF_ANY) != 0)
      return ErrnoStatus("writing generator template " + std::to_string(i), errno);
  }
  return skel;
}

Status SetRedirectPort(const sfc_bench_xdp& skel, uint32_t ifindex) {
  uint32_t key = 0;
  if (bpf_map_update_elem(bpf_map__fd(skel.maps.redirect_port), &key, &ifindex, BPF_ANY) != 0)
    return ErrnoStatus("setting the redirect port to ifindex " + std::to_string(ifindex), errno);
  return Status::Ok();
}

Result<XdpLink> XdpLink::Attach(int prog_fd, const std::string& dev) {
  unsigned ifindex = if_nametoindex(dev.c_str());
  if (ifindex == 0) return ErrnoStatus("looking up " + dev, errno);
  LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
  int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex), BPF_XDP, &opts);
  if (fd < 0) return ErrnoStatus("attaching XDP (native mode) to " + dev, errno);
  return XdpLink(UniqueFd(fd), dev);
}

Result<bench_counters> ReadCounters(const sfc_bench_xdp& skel) {
  int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) return ErrnoStatus("counting possible CPUs", ncpus);
  std::vector<bench_counters> values(ncpus);
  uint32_t key = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel.maps.counters), &key, values.data()) != 0)
    return ErrnoStatus("reading bench counters", errno);
  bench_counters sum{};
  for (const auto& v : values) {
    sum.packets += v.packets;
    sum.bytes += v.bytes;
  }
  return sum;
}

Result<std::unique_ptr<NetnsGuard>> NetnsGuard::Enter(const std::string& name) {
  std::unique_ptr<NetnsGuard> g(new NetnsGuard());
  g->previous_.reset(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!g->previous_) return ErrnoStatus("opening the current network namespace", errno);
  std::string path = "/run/netns/" + name;
  UniqueFd target(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target) return ErrnoStatus("opening " + path, errno);
  if (setns(target.get(), CLONE_NEWNET) != 0)
    return ErrnoStatus("entering network namespace " + name, errno);
  return g;
}

NetnsGuard::~NetnsGuard() {
  if (previous_) (void)setns(previous_.get(), CLONE_NEWNET);
}

Status PinThreadToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0)
    return ErrnoStatus("pinning to CPU " + std::to_string(cpu), errno);
  return Status::Ok();
}

Result<CpuTimes> ReadCpuTimes(const std::vector<int>& cpus) {
  std::ifstream in("/proc/stat");
  if (!in) return ErrnoStatus("opening /proc/stat", errno);
  CpuTimes sum;
  size_t found = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream fields(line.substr(3));
    int cpu = -1;
    CpuTimes t;
    fields >> cpu >> t.user >> t.nice >> t.system >> t.idle >> t.iowait >> t.irq >> t.softirq >>
        t.steal;
    for (int c : cpus) {
      if (c != cpu) continue;
      sum.user += t.user;
      sum.nice += t.nice;
      sum.system += t.system;
      sum.idle += t.idle;
      sum.iowait += t.iowait;
      sum.irq += t.irq;
      sum.softirq += t.softirq;
      sum.steal += t.steal;
      ++found;
    }
  }
  if (found != cpus.size()) return NotFound("/proc/stat lacks some of the requested CPUs");
  return sum;
}

CpuTimes operator-(const CpuTimes& a, const CpuTimes& b) {
  return {a.user - b.user,     a.nice - b.nice, a.system - b.system,   a.idle - b.idle,
          a.iowait - b.iowait, a.irq - b.irq,   a.softirq - b.softirq, a.steal - b.steal};
}

Result<std::vector<int>> ParseCpuList(const std::string& text) {
  std::vector<int> cpus;
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    size_t dash = part.find('-');
    try {
      int lo = std::stoi(part.substr(0, dash));
      int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
      if (lo < 0 || hi < lo || hi >= CPU_SETSIZE)
        return InvalidArgument("bad CPU range \"" + part + "\"");
      for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    } catch (const std::exception&) {
      return InvalidArgument("bad CPU list \"" + text + "\"");
    }
  }
  if (cpus.empty()) return InvalidArgument("empty CPU list");
  return cpus;
}

}  // namespace sfc::bench
