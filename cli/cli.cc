#include "cli.h"

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace sfc::cli {
namespace {

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::shared_ptr<grpc::Channel> Context::Channel() {
  if (channel_) return channel_;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (server.starts_with("unix:")) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!tls_ca.empty()) ssl.pem_root_certs = ReadFileOrEmpty(tls_ca);
    if (!tls_cert.empty()) ssl.pem_cert_chain = ReadFileOrEmpty(tls_cert);
    if (!tls_key.empty()) ssl.pem_private_key = ReadFileOrEmpty(tls_key);
    creds = grpc::SslCredentials(ssl);
  }
  // Large rule sets and their listings exceed gRPC's 4 MB default.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(512 << 20);
  args.SetMaxSendMessageSize(512 << 20);
  channel_ = grpc::CreateCustomChannel(server, creds, args);
  return channel_;
}

bool Args::Parse(const std::vector<std::string>& argv, const std::vector<std::string>& value_flags,
                 const std::vector<std::string>& bool_flags, Args* out, std::string* error) {
  auto is = [](const std::vector<std::string>& v, const std::string& f) {
    for (const auto& x : v)
      if (x == f) return true;
    return false;
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 2 || a[0] != '-' || a == "-") {
      out->positional_.push_back(a);
      continue;
    }
    std::string flag = a, value;
    bool inline_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      flag = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    if (is(bool_flags, flag)) {
      if (inline_value) {
        *error = flag + " takes no value";
        return false;
      }
      out->flags_[flag] = "true";
    } else if (is(value_flags, flag)) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) {
          *error = flag + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      out->flags_[flag] = value;
    } else {
      *error = "unknown option " + flag;
      return false;
    }
  }
  return true;
}

std::string Args::Get(const std::string& flag, const std::string& fallback) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? fallback : it->second;
}

int ReportError(const std::string& what, const grpc::Status& status) {
  std::fprintf(stderr, "sfcctl: %s: %s\n", what.c_str(), status.error_message().c_str());
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    return kExitUnreachable;
  return kExitFailed;
}

int UsageError(const std::string& usage, const std::string& message) {
  std::fprintf(stderr, "sfcctl: %s\n\n%s", message.c_str(), usage.c_str());
  return kExitUsage;
}

void PrintJson(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(msg, &out, opts);
  std::cout << out;
  if (out.empty() || out.back() != '\n') std::cout << "\n";
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path == "-" ? "/dev/stdin" : path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

std::string Human(double v, const char* unit) {
  static const char* kSuffix[] = {"", "K", "M", "G", "T", "P"};
  int i = 0;
  while (v >= 1000 && i < 5) v /= 1000, ++i;
  char buf[32];
  std::snprintf(buf, sizeof(buf), i == 0 ? "%.0f%s%s" : "%.1f%s%s", v, kSuffix[i], unit);
  return buf;
}

void SetDeadline(grpc::ClientContext* ctx, int seconds) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

}  // namespace sfc::cli
