#include "support/chain_fixture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "engine/bpf_util.h"
#include "support/app_stamp.h"
#include "vnfs.h"

namespace sfc::test {
namespace {

std::atomic<int> g_counter{0};

void PinToCpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

}  // namespace

Result<std::unique_ptr<LoadedChain>> LoadedChain::Load(const std::string& spec_json) {
  PinToCpu0();
  std::unique_ptr<LoadedChain> c(new LoadedChain());
  std::string tag = std::to_string(getpid()) + "-" + std::to_string(g_counter++);
  c->root_ = "/sys/fs/bpf/sfc-test-" + tag;
  c->state_dir_ = std::filesystem::temp_directory_path() / ("sfc-test-state-" + tag);
  c->registry_ = std::make_unique<VnfRegistry>();
  RegisterBuiltinVnfs(*c->registry_);
  c->registry_->Add(MakeAppStampModule());  // test chains may label packets with an app
  c->engine_ = std::make_unique<ChainEngine>(
      ChainEngine::Options{.bpffs_root = c->root_, .state_dir = c->state_dir_, .attach = false},
      *c->registry_);
  SFC_RETURN_IF_ERROR(c->engine_->Start());

  SFC_ASSIGN_OR_RETURN(ChainSpec spec, ParseChainSpecText(spec_json, *c->registry_));
  c->name_ = spec.name;
  bool changed = false;
  SFC_RETURN_IF_ERROR(c->engine_->Apply(spec, false, &changed).status());
  SFC_ASSIGN_OR_RETURN(c->entry_, OpenPinned(c->engine_->pins().DetachedEntry(spec.name)));
  return c;
}

LoadedChain::~LoadedChain() {
  if (engine_ && !name_.empty()) (void)engine_->Delete(name_);
  engine_.reset();
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
  std::filesystem::remove_all(state_dir_, ec);
}

Status LoadedChain::Reapply(const std::string& spec_json) {
  SFC_ASSIGN_OR_RETURN(ChainSpec spec, ParseChainSpecText(spec_json, *registry_));
  if (spec.name != name_) return InvalidArgument("Reapply: chain name changed");
  bool changed = false;
  return engine_->Apply(spec, false, &changed).status();
}

Result<XdpRun> LoadedChain::Run(const Bytes& frame, uint32_t ifindex, uint32_t repeat) {
  PinToCpu0();
  return RunXdp(entry_.get(), frame, ifindex, repeat);
}

std::string LoadedChain::PinPath(const std::string& vnf, const std::string& map) const {
  return engine_->pins().VnfMap(name_, vnf, map);
}

Result<UniqueFd> LoadedChain::OpenMap(const std::string& vnf, const std::string& map) const {
  return OpenPinned(PinPath(vnf, map));
}

namespace {
Result<uint64_t> Find(const NamedCounters& counters, const std::string& name) {
  for (const auto& [n, v] : counters)
    if (n == name) return v;
  return NotFound("no counter " + name);
}
}  // namespace

Result<uint64_t> LoadedChain::ChainCounter(const std::string& counter) {
  SFC_ASSIGN_OR_RETURN(UniqueFd fd, OpenPinned(engine_->pins().ChainStats(name_)));
  SFC_ASSIGN_OR_RETURN(NamedCounters c, ReadPerCpuCounters(fd.get()));
  return Find(c, counter);
}

Result<uint64_t> LoadedChain::VnfCounter(const std::string& vnf, const std::string& counter) {
  SFC_ASSIGN_OR_RETURN(UniqueFd fd, OpenMap(vnf, "stats"));
  SFC_ASSIGN_OR_RETURN(NamedCounters c, ReadPerCpuCounters(fd.get()));
  return Find(c, counter);
}

Result<sfc_pkt> LoadedChain::LastPacket() const {
  SFC_ASSIGN_OR_RETURN(UniqueFd fd, OpenPinned(engine_->pins().PktCtx(name_)));
  int ncpus = libbpf_num_possible_cpus();
  std::vector<sfc_pkt> values(ncpus);
  uint32_t key = 0;
  if (bpf_map_lookup_elem(fd.get(), &key, values.data()) != 0)
    return ErrnoStatus("reading pktctx", errno);
  return values[0];
}

bool EnterRoutedTestNetwork() {
  if (unshare(CLONE_NEWNET) != 0) {
    ADD_FAILURE() << "unshare(CLONE_NEWNET): " << strerror(errno) << " (needs CAP_SYS_ADMIN)";
    return false;
  }
  const int rc = std::system(R"(set -e
      ip link set lo up
      ip link add in0 type veth peer name in1
      ip link add out0 address 02:00:00:00:02:01 type veth peer name out1
      for d in in0 in1 out0 out1; do ip link set $d up; done
      ip addr add 10.9.1.1/24 dev in0
      ip addr add 10.9.2.1/24 dev out0
      ip -6 addr add fd00:9:1::1/64 dev in0 nodad
      ip -6 addr add fd00:9:2::1/64 dev out0 nodad
      ip neigh add 10.9.2.2 lladdr 02:00:00:00:02:02 dev out0 nud permanent
      ip -6 neigh add fd00:9:2::2 lladdr 02:00:00:00:02:02 dev out0 nud permanent
      ip route add unreachable 10.9.3.0/24
      sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1)");
  EXPECT_EQ(rc, 0) << "routed test network setup";
  return rc == 0;
}

}  // namespace sfc::test
