#include "lb.h"

#include <google/protobuf/util/json_util.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sfc/v1/loadbalancer.grpc.pb.h"

namespace sfc::cli {
namespace {

constexpr const char* kLbUsage = R"(usage: sfcctl lb COMMAND CHAIN VNF [ARGS...] [-o table|json]

Manages the services and backends of a running loadbalancer VNF. Changes
apply at once (each service's Maglev table is swapped whole) and are saved
in the chain's spec.

commands:
  list CHAIN VNF                         services, backends, health, counters
                                         (also: list-services)
  get CHAIN VNF SERVICE                  one service
  add-service CHAIN VNF (-f FILE | --name N --vip IP [--proto tcp|udp]
              [--port P] [--mode dnat|dsr] [--table-size PRIME])
                                         FILE: one service as in the chain file
  update-service CHAIN VNF -f FILE       replace a service (same name)
  delete-service CHAIN VNF SERVICE
  add-backend CHAIN VNF SERVICE ADDRESS [--port P] [--weight W] [--mac MAC]
  remove-backend CHAIN VNF SERVICE ADDRESS [--port P]
  set-weight CHAIN VNF SERVICE ADDRESS WEIGHT [--port P]
  drain CHAIN VNF SERVICE ADDRESS [--port P]
                                         weight 0: existing connections stay,
                                         no new ones
--port may be left out when ADDRESS is a single backend of the service.
)";

bool ParseUint(const std::string& s, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v > max) return false;
  *out = v;
  return true;
}

bool ParseInt(const std::string& s, int64_t* out) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return false;
  *out = v;
  return true;
}

std::string HostPort(const std::string& addr, uint32_t port) {
  std::string host = addr.find(':') != std::string::npos ? "[" + addr + "]" : addr;
  return host + ":" + (port ? std::to_string(port) : std::string("*"));
}

void PrintServices(const std::vector<const v1::LbService*>& services) {
  std::vector<std::vector<std::string>> rows;
  for (const auto* s : services) {
    const auto& spec = s->spec();
    std::string svc = spec.proto() + "/" + HostPort(spec.vip(), spec.port());
    uint64_t table = spec.table_size() ? spec.table_size() : 1;
    if (s->backends().empty())
      rows.push_back({spec.name(), svc, spec.mode(), "-", "-", "-", "-", "-", "-", "-", ""});
    for (const auto& b : s->backends()) {
      char share[16];
      std::snprintf(share, sizeof(share), "%.1f%%", 100.0 * b.slots() / table);
      rows.push_back({spec.name(), svc, spec.mode(), HostPort(b.address(), b.port()),
                      std::to_string(b.weight()), b.state(), share, std::to_string(b.connections()),
                      std::to_string(b.packets()), Human(static_cast<double>(b.bytes()), "B"),
                      b.last_error()});
    }
  }
  PrintTable({"SERVICE", "VIP", "MODE", "BACKEND", "WEIGHT", "STATE", "SHARE", "CONNS", "PACKETS",
              "BYTES", "LAST CHECK ERROR"},
             rows);
}

int Show(Context& ctx, const v1::LbService& s) {
  if (ctx.output == Output::kJson) return PrintJson(s), kExitOk;
  PrintServices({&s});
  return kExitOk;
}

// A service from a file holding one entry of a chain file's "services".
bool ServiceFromFile(const std::string& path, v1::LbServiceSpec* out, std::string* err) {
  std::string text;
  if (!ReadFile(path, &text)) {
    *err = "-f: cannot read " + path;
    return false;
  }
  google::protobuf::util::JsonParseOptions opts;
  auto st = google::protobuf::util::JsonStringToMessage(text, out, opts);
  if (!st.ok()) {
    *err = path + ": " + std::string(st.message());
    return false;
  }
  return true;
}

// Positionals after the command: CHAIN VNF and `extra` more.
bool Positionals(const Args& a, size_t extra, std::string* err) {
  if (a.positional().size() != 2 + extra) {
    *err = "expected " + std::to_string(2 + extra) + " arguments, got " +
           std::to_string(a.positional().size());
    return false;
  }
  return true;
}

template <typename Req>
bool FillTarget(const Args& a, Req* req, std::string* err) {
  req->set_chain(a.positional()[0]);
  req->set_vnf(a.positional()[1]);
  if (a.Has("--port")) {
    uint64_t port = 0;
    if (!ParseUint(a.Get("--port"), 65535, &port)) {
      *err = "--port: \"" + a.Get("--port") + "\" is not a port";
      return false;
    }
    if constexpr (requires { req->set_port(0u); }) req->set_port(static_cast<uint32_t>(port));
  }
  return true;
}

// Args::Parse takes every "-..." for a flag; a negative WEIGHT is a value the
// server must get (and refuse by field), so it travels as a positional.
constexpr char kNegative = '\x01';
std::vector<std::string> ProtectNegatives(std::vector<std::string> argv) {
  for (auto& a : argv)
    if (a.size() > 1 && a[0] == '-' && a.find_first_not_of("0123456789", 1) == std::string::npos)
      a[0] = kNegative;
  return argv;
}
std::string Unprotect(std::string s) {
  if (!s.empty() && s[0] == kNegative) s[0] = '-';
  return s;
}

}  // namespace

int RunLb(Context& ctx, const std::vector<std::string>& argv) {
  for (const auto& a : argv)
    if (a == "-h" || a == "--help") return std::fputs(kLbUsage, stdout), kExitOk;
  if (argv.empty()) return UsageError(kLbUsage, "missing command");
  const std::string cmd = argv[0];
  std::vector<std::string> rest(argv.begin() + 1, argv.end());
  Args a;
  std::string err;
  if (!Args::Parse(ProtectNegatives(rest),
                   {"-f", "--name", "--vip", "--proto", "--port", "--mode", "--table-size",
                    "--weight", "--mac"},
                   {}, &a, &err))
    return UsageError(kLbUsage, err);
  auto stub = v1::LoadBalancerService::NewStub(ctx.Channel());
  grpc::ClientContext call;
  SetDeadline(&call);
  v1::LbService svc;

  if (cmd == "list" || cmd == "list-services") {
    if (!Positionals(a, 0, &err)) return UsageError(kLbUsage, err);
    v1::ListLbServicesRequest req;
    FillTarget(a, &req, &err);
    v1::ListLbServicesResponse resp;
    auto st = stub->ListServices(&call, req, &resp);
    if (!st.ok()) return ReportError("lb list", st);
    if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
    std::vector<const v1::LbService*> all;
    for (const auto& s : resp.services()) all.push_back(&s);
    PrintServices(all);
    return kExitOk;
  }
  if (cmd == "get") {
    if (!Positionals(a, 1, &err)) return UsageError(kLbUsage, err);
    v1::GetLbServiceRequest req;
    FillTarget(a, &req, &err);
    req.set_service(a.positional()[2]);
    auto st = stub->GetService(&call, req, &svc);
    return st.ok() ? Show(ctx, svc) : ReportError("lb get", st);
  }
  if (cmd == "add-service" || cmd == "update-service") {
    if (!Positionals(a, 0, &err)) return UsageError(kLbUsage, err);
    v1::LbServiceSpec spec;
    if (a.Has("-f")) {
      if (!ServiceFromFile(a.Get("-f"), &spec, &err)) return UsageError(kLbUsage, err);
    } else if (cmd == "update-service") {
      return UsageError(kLbUsage, "update-service needs -f FILE");
    } else {
      if (!a.Has("--name") || !a.Has("--vip"))
        return UsageError(kLbUsage, "add-service needs -f FILE, or --name and --vip");
      spec.set_name(a.Get("--name"));
      spec.set_vip(a.Get("--vip"));
      spec.set_proto(a.Get("--proto"));
      spec.set_mode(a.Get("--mode"));
      uint64_t v = 0;
      if (a.Has("--port")) {
        if (!ParseUint(a.Get("--port"), 65535, &v))
          return UsageError(kLbUsage, "--port: not a port");
        spec.set_port(static_cast<uint32_t>(v));
      }
      if (a.Has("--table-size")) {
        if (!ParseUint(a.Get("--table-size"), 0xffffffffu, &v))
          return UsageError(kLbUsage, "--table-size: not a number");
        spec.set_table_size(static_cast<uint32_t>(v));
      }
    }
    grpc::Status st;
    if (cmd == "add-service") {
      v1::AddLbServiceRequest req;
      req.set_chain(a.positional()[0]);
      req.set_vnf(a.positional()[1]);
      *req.mutable_service() = spec;
      st = stub->AddService(&call, req, &svc);
    } else {
      v1::UpdateLbServiceRequest req;
      req.set_chain(a.positional()[0]);
      req.set_vnf(a.positional()[1]);
      *req.mutable_service() = spec;
      st = stub->UpdateService(&call, req, &svc);
    }
    return st.ok() ? Show(ctx, svc) : ReportError("lb " + cmd, st);
  }
  if (cmd == "delete-service") {
    if (!Positionals(a, 1, &err)) return UsageError(kLbUsage, err);
    v1::DeleteLbServiceRequest req;
    FillTarget(a, &req, &err);
    req.set_service(a.positional()[2]);
    v1::DeleteLbServiceResponse resp;
    auto st = stub->DeleteService(&call, req, &resp);
    if (!st.ok()) return ReportError("lb delete-service", st);
    if (ctx.output == Output::kJson) return PrintJson(resp), kExitOk;
    std::printf("service %s deleted\n", req.service().c_str());
    return kExitOk;
  }
  if (cmd == "add-backend") {
    if (!Positionals(a, 2, &err)) return UsageError(kLbUsage, err);
    v1::AddLbBackendRequest req;
    req.set_chain(a.positional()[0]);
    req.set_vnf(a.positional()[1]);
    req.set_service(a.positional()[2]);
    auto* b = req.mutable_backend();
    b->set_address(a.positional()[3]);
    uint64_t port = 0;
    if (a.Has("--port")) {
      if (!ParseUint(a.Get("--port"), 65535, &port))
        return UsageError(kLbUsage, "--port: not a port");
      b->set_port(static_cast<uint32_t>(port));
    }
    if (a.Has("--weight")) {
      int64_t w = 0;
      const std::string weight = Unprotect(a.Get("--weight"));
      if (!ParseInt(weight, &w) || w < INT32_MIN || w > INT32_MAX)
        return UsageError(kLbUsage, "--weight: \"" + weight + "\" is not a number");
      b->set_weight(static_cast<int32_t>(w));  // the server rejects negatives by field
    }
    b->set_mac(a.Get("--mac"));
    auto st = stub->AddBackend(&call, req, &svc);
    return st.ok() ? Show(ctx, svc) : ReportError("lb add-backend", st);
  }
  if (cmd == "remove-backend" || cmd == "drain") {
    if (!Positionals(a, 2, &err)) return UsageError(kLbUsage, err);
    grpc::Status st;
    if (cmd == "drain") {
      v1::DrainLbBackendRequest req;
      if (!FillTarget(a, &req, &err)) return UsageError(kLbUsage, err);
      req.set_service(a.positional()[2]);
      req.set_address(a.positional()[3]);
      st = stub->Drain(&call, req, &svc);
    } else {
      v1::RemoveLbBackendRequest req;
      if (!FillTarget(a, &req, &err)) return UsageError(kLbUsage, err);
      req.set_service(a.positional()[2]);
      req.set_address(a.positional()[3]);
      st = stub->RemoveBackend(&call, req, &svc);
    }
    return st.ok() ? Show(ctx, svc) : ReportError("lb " + cmd, st);
  }
  if (cmd == "set-weight") {
    if (!Positionals(a, 3, &err)) return UsageError(kLbUsage, err);
    v1::SetLbWeightRequest req;
    if (!FillTarget(a, &req, &err)) return UsageError(kLbUsage, err);
    req.set_service(a.positional()[2]);
    req.set_address(a.positional()[3]);
    int64_t w = 0;
    const std::string weight = Unprotect(a.positional()[4]);
    if (!ParseInt(weight, &w) || w < INT32_MIN || w > INT32_MAX)
      return UsageError(kLbUsage, "WEIGHT: \"" + weight + "\" is not a number");
    req.set_weight(static_cast<int32_t>(w));
    auto st = stub->SetWeight(&call, req, &svc);
    return st.ok() ? Show(ctx, svc) : ReportError("lb set-weight", st);
  }
  return UsageError(kLbUsage, "unknown command \"" + cmd + "\"");
}

}  // namespace sfc::cli
