// End-to-end harness: a namespaced topology (scripts/topo.sh), a real sfcd
// running in the VM namespace with a private bpffs root, state dir and
// socket, and helpers to run sfcctl, bpftool and traffic tools. Every object
// has a unique name and is torn down by its destructor, also when a test fails.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sfc::test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, interleaved
};

// Runs `command` with /bin/sh; `timeout_s` bounds it (timeout(1)).
CommandResult Sh(const std::string& command, int timeout_s = 60);

// Where the build put sfcd and sfcctl, and the source tree.
std::string BuildDir();
std::string SourceDir();

class Topology {
 public:
  // `servers` server namespaces behind the VM. Names and the 10.N/16 range
  // are unique to this process.
  explicit Topology(int servers = 2);
  ~Topology();
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  const std::string& prefix() const { return prefix_; }
  int net() const { return net_; }
  std::string client_ns() const { return prefix_ + "c"; }
  std::string vm_ns() const { return prefix_ + "v"; }
  std::string server_ns(int i) const { return prefix_ + "s" + std::to_string(i); }
  // Addresses inside the topology.
  std::string client_ip() const { return "10." + std::to_string(net_) + ".1.2"; }
  std::string server_ip(int i) const {
    return "10." + std::to_string(net_) + "." + std::to_string(10 + i) + ".2";
  }
  std::string server_ip6(int i) const {
    return "fd00:" + std::to_string(net_) + ":" + std::to_string(10 + i) + "::2";
  }

  // Runs a command inside a namespace (ip netns exec).
  CommandResult In(const std::string& ns, const std::string& command, int timeout_s = 60) const;
  // Runs in the VM namespace without a private mount namespace, so bpffs is
  // the host's (bpftool, xdp-loader).
  CommandResult InVm(const std::string& command, int timeout_s = 60) const;
  // Starts a command in a namespace in the background; killed by the destructor.
  pid_t Spawn(const std::string& ns, const std::string& command);

 private:
  std::string prefix_;
  int net_;
  std::vector<pid_t> spawned_;
};

class Sfcd {
 public:
  explicit Sfcd(const Topology& topo);
  // An sfcd in network namespace `ns`; `tag` (unique) names its bpffs root,
  // state dir, socket and log.
  Sfcd(std::string ns, const std::string& tag);
  ~Sfcd();  // SIGTERM (chains keep running), then deletes every chain it made and its pins
  Sfcd(const Sfcd&) = delete;
  Sfcd& operator=(const Sfcd&) = delete;

  // Starts sfcd (extra_args appended; `env`, e.g. "SFC_FAILPOINTS=...", set
  // in its environment) and waits until it answers.
  bool Start(const std::string& extra_args = "", const std::string& env = "");
  void Kill9();  // crash: the data plane must keep running
  void Stop();   // SIGTERM and wait
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }  // sfcd itself (the launch shell execs it)

  const std::string& root() const { return root_; }
  const std::string& state_dir() const { return state_; }
  const std::string& socket() const { return socket_; }
  std::string log() const;

  // sfcctl --server <this daemon> ARGS
  CommandResult Ctl(const std::string& args, int timeout_s = 60) const;
  // sfcctl -o json ARGS, parsed; a failed command or unparsable output fails
  // the test and yields an empty object.
  nlohmann::json CtlJson(const std::string& args) const;
  // Writes `json` to a temp file and applies it.
  CommandResult Apply(const std::string& json, const std::string& extra_args = "") const;

 private:
  std::string ns_, tag_;
  std::string root_, state_, socket_, log_;
  pid_t pid_ = -1;
};

}  // namespace sfc::test
