#include "support/e2e.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace sfc::test {
namespace {

std::atomic<int> g_seq{0};

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace

CommandResult Sh(const std::string& command, int timeout_s) {
  std::string full =
      "timeout -k 5 " + std::to_string(timeout_s) + " sh -c " + Quote(command) + " 2>&1";
  CommandResult r;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string BuildDir() { return SFC_BUILD_DIR; }
std::string SourceDir() { return SFC_SOURCE_DIR; }

Topology::Topology(int servers) {
  int seq = g_seq++;
  // Short, unique per process and object: interface and netns names stay small.
  prefix_ = "e" + std::to_string(getpid() % 100000) + static_cast<char>('a' + seq % 26);
  net_ = 100 + (getpid() + seq) % 150;
  CommandResult r = Sh("SFC_ENDPOINT_XDP=" + BuildDir() + "/bpf/endpoint_pass.bpf.o " +
                       SourceDir() + "/scripts/topo.sh up " + prefix_ + " " + std::to_string(net_) +
                       " " + std::to_string(servers));
  if (r.exit_code != 0)
    std::fprintf(stderr, "topology %s failed:\n%s\n", prefix_.c_str(), r.output.c_str());
}

Topology::~Topology() {
  for (pid_t pid : spawned_) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  Sh(SourceDir() + "/scripts/topo.sh down " + prefix_);
}

CommandResult Topology::In(const std::string& ns, const std::string& command, int timeout_s) const {
  return Sh("ip netns exec " + ns + " sh -c " + Quote(command), timeout_s);
}

CommandResult Topology::InVm(const std::string& command, int timeout_s) const {
  return Sh("nsenter --net=/run/netns/" + vm_ns() + " sh -c " + Quote(command), timeout_s);
}

pid_t Topology::Spawn(const std::string& ns, const std::string& command) {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", ("exec ip netns exec " + ns + " sh -c " + Quote(command)).c_str(),
          nullptr);
    _exit(127);
  }
  spawned_.push_back(pid);
  return pid;
}

Sfcd::Sfcd(const Topology& topo) : Sfcd(topo.vm_ns(), topo.prefix()) {}

Sfcd::Sfcd(std::string ns, const std::string& tag) : ns_(std::move(ns)), tag_(tag) {
  root_ = "/sys/fs/bpf/sfc-e2e-" + tag;
  state_ = "/tmp/sfc-e2e-state-" + tag;
  socket_ = "/tmp/sfc-e2e-" + tag + ".sock";
  log_ = "/tmp/sfc-e2e-" + tag + ".log";
  std::filesystem::remove(log_);
}

bool Sfcd::Start(const std::string& extra_args, const std::string& env) {
  pid_ = fork();
  if (pid_ == 0) {
    setpgid(0, 0);
    std::string cmd = "exec env " + env + " nsenter --net=/run/netns/" + ns_ + " " + BuildDir() +
                      "/daemon/sfcd --bpffs-root " + root_ + " --state-dir " + state_ +
                      " --listen unix:" + socket_ + " --log-level debug " + extra_args + " >>" +
                      log_ + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    _exit(127);
  }
  // Ready when the socket answers.
  for (int i = 0; i < 100; ++i) {
    if (Ctl("get chains", 5).exit_code == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

void Sfcd::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void Sfcd::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

Sfcd::~Sfcd() {
  // Remove what the test created: every chain pinned under our root (the
  // daemon detaches XDP and unpins), then the daemon and its files.
  if (pid_ <= 0) Start();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec))
    Ctl("delete chain " + entry.path().filename().string(), 10);
  Stop();
  std::filesystem::remove_all(root_, ec);
  std::filesystem::remove_all(state_, ec);
  std::filesystem::remove(socket_, ec);
}

std::string Sfcd::log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult Sfcd::Ctl(const std::string& args, int timeout_s) const {
  return Sh(BuildDir() + "/cli/sfcctl --server unix:" + socket_ + " " + args, timeout_s);
}

nlohmann::json Sfcd::CtlJson(const std::string& args) const {
  CommandResult r = Ctl("-o json " + args);
  EXPECT_EQ(r.exit_code, 0) << args << ": " << r.output;
  nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << args << ": " << r.output;
  return j.is_discarded() ? nlohmann::json::object() : j;
}

CommandResult Sfcd::Apply(const std::string& json, const std::string& extra_args) const {
  std::string path = "/tmp/sfc-e2e-" + tag_ + "-" + std::to_string(g_seq++) + ".json";
  {
    std::ofstream out(path);
    out << json;
  }
  CommandResult r = Ctl("apply -f " + path + " " + extra_args, 120);
  std::filesystem::remove(path);
  return r;
}

}  // namespace sfc::test
