#include "api/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "api/convert.h"
#include "common/log.h"
#include "common/version.h"
#include "sfc/v1/chain.grpc.pb.h"
#include "sfc/v1/stats.grpc.pb.h"

namespace sfc::api {
namespace {

constexpr int kMaxMessageBytes = 512 << 20;

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

class Server::ChainServiceImpl final : public v1::ChainService::Service {
 public:
  ChainServiceImpl(ChainEngine& engine, const VnfRegistry& registry)
      : engine_(engine), registry_(registry) {}

  grpc::Status Apply(grpc::ServerContext*, const v1::ApplyRequest* req,
                     v1::ApplyResponse* resp) override {
    Result<ChainSpec> spec = SpecOfRequest(*req, registry_);
    if (!spec.ok()) return ToGrpc(spec.status());
    bool changed = false;
    auto info = engine_.Apply(*spec, req->dry_run(), &changed,
                              req->has_expected_generation()
                                  ? std::optional<uint64_t>(req->expected_generation())
                                  : std::nullopt);
    if (!info.ok()) return ToGrpc(info.status());
    ToProto(*info, resp->mutable_chain());
    resp->set_changed(changed);
    return grpc::Status::OK;
  }

  grpc::Status Get(grpc::ServerContext*, const v1::GetChainRequest* req, v1::Chain* resp) override {
    auto info = engine_.Get(req->name());
    if (!info.ok()) return ToGrpc(info.status());
    ToProto(*info, resp);
    return grpc::Status::OK;
  }

  grpc::Status List(grpc::ServerContext*, const v1::ListChainsRequest*,
                    v1::ListChainsResponse* resp) override {
    for (const auto& info : engine_.List()) ToProto(info, resp->add_chains());
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext*, const v1::DeleteChainRequest* req,
                      v1::DeleteChainResponse*) override {
    if (req->name().empty()) return ToGrpc(InvalidArgument("name: required"));
    if (!IsSafeName(req->name()))
      return ToGrpc(InvalidArgument("name: \"" + req->name() + "\" is not a valid chain name"));
    return ToGrpc(
        engine_.Delete(req->name(), req->has_expected_generation()
                                        ? std::optional<uint64_t>(req->expected_generation())
                                        : std::nullopt));
  }

  grpc::Status GetVersion(grpc::ServerContext*, const v1::GetVersionRequest*,
                          v1::GetVersionResponse* resp) override {
    VersionInfo v = BuildVersion();
    resp->set_version(v.version);
    resp->set_commit(v.commit);
    resp->set_api("sfc.v1");
    resp->set_libbpf(v.libbpf);
    resp->set_libxdp(v.libxdp);
    resp->set_kernel(v.kernel);
    return grpc::Status::OK;
  }

 private:
  ChainEngine& engine_;
  const VnfRegistry& registry_;
};

class Server::StatsServiceImpl final : public v1::StatsService::Service {
 public:
  explicit StatsServiceImpl(ChainEngine& engine) : engine_(engine) {}

  grpc::Status Get(grpc::ServerContext*, const v1::GetStatsRequest* req,
                   v1::ChainStats* resp) override {
    auto c = engine_.Counters(req->chain(), req->vnf(), req->latency());
    if (!c.ok()) return ToGrpc(c.status());
    ToProto(req->chain(), *c, resp);
    return grpc::Status::OK;
  }

  grpc::Status Watch(grpc::ServerContext* ctx, const v1::WatchStatsRequest* req,
                     grpc::ServerWriter<v1::ChainStats>* writer) override {
    auto interval =
        std::chrono::milliseconds(req->interval_ms() ? std::max(100u, req->interval_ms()) : 1000);
    while (!ctx->IsCancelled() && !stopping_) {
      auto c = engine_.Counters(req->chain(), req->vnf(), req->latency());
      if (!c.ok()) return ToGrpc(c.status());
      v1::ChainStats msg;
      ToProto(req->chain(), *c, &msg);
      if (!writer->Write(msg)) break;
      auto until = std::chrono::steady_clock::now() + interval;
      while (std::chrono::steady_clock::now() < until && !ctx->IsCancelled() && !stopping_)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return grpc::Status::OK;
  }

  void Stop() { stopping_ = true; }

 private:
  ChainEngine& engine_;
  std::atomic<bool> stopping_{false};
};

Server::Server(ChainEngine& engine, VnfRegistry& registry)
    : engine_(engine),
      registry_(registry),
      chains_(std::make_unique<ChainServiceImpl>(engine, registry)),
      stats_(std::make_unique<StatsServiceImpl>(engine)),
      monitor_hub_(engine),
      monitor_(monitor_hub_),
      trace_(engine) {}

Server::~Server() { Shutdown(); }

Status Server::Start(const ServerOptions& options) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;

  for (const auto& addr : options.listen) {
    if (addr.starts_with("unix:")) {
      std::string path = addr.substr(5);
      // A directory made here lets the socket's group reach it (umask is 077).
      const std::string dir = std::filesystem::path(path).parent_path();
      std::error_code ec;
      if (std::filesystem::create_directories(dir, ec)) ::chmod(dir.c_str(), 0750);
      ::unlink(path.c_str());  // a stale socket of a previous run
      unix_paths_.push_back(path);
      builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
      continue;
    }
    if (options.tls_cert.empty() || options.tls_key.empty())
      return InvalidArgument("--listen " + addr +
                             ": a TCP listener requires --tls-cert and --tls-key");
    SFC_ASSIGN_OR_RETURN(std::string cert, ReadFile(options.tls_cert));
    SFC_ASSIGN_OR_RETURN(std::string key, ReadFile(options.tls_key));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({key, cert});
    if (!options.tls_client_ca.empty()) {
      SFC_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFile(options.tls_client_ca));
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    builder.AddListeningPort(addr, grpc::SslServerCredentials(ssl));
  }

  // Chain files with 100k+ firewall rules run to megabytes; gRPC's 4 MB
  // default would refuse them.
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.RegisterService(chains_.get());
  builder.RegisterService(stats_.get());
  builder.RegisterService(&monitor_);
  builder.RegisterService(&trace_);
  monitor_hub_.ResetAll();  // what an sfcd that died while watched left on
  for (const auto& type : registry_.Types())
    registry_.Find(type)->RegisterServices(builder, engine_);

  if (!interceptors_.empty())
    builder.experimental().SetInterceptorCreators(std::move(interceptors_));
  server_ = builder.BuildAndStart();
  if (!server_) return Internal("gRPC server failed to start (address in use or not permitted?)");
  for (const auto& path : unix_paths_) ::chmod(path.c_str(), 0660);
  for (const auto& addr : options.listen) log::Info("api.listening", {{"address", addr}});
  return Status::Ok();
}

void Server::Shutdown() {
  if (!server_) return;
  stats_->Stop();
  monitor_hub_.Stop();  // ends the Watch streams
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_.reset();
  for (const auto& path : unix_paths_) ::unlink(path.c_str());
}

void Server::Wait() {
  if (server_) server_->Wait();
}

}  // namespace sfc::api
