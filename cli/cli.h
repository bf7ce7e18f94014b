// What every sfcctl verb shares: the connection, the output format, argument
// parsing, and the conventions for exit codes.
//
// Exit codes: 0 success; 1 the server refused or failed the request; 2 bad
// usage; 3 the server could not be reached.
#pragma once

#include <grpcpp/grpcpp.h>

#include <google/protobuf/message.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sfc::cli {

constexpr int kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitUnreachable = 3;

enum class Output { kTable, kJson };

struct Context {
  std::string server;  // "unix:/run/sfcd/sfcd.sock" or "host:port"
  std::string tls_ca, tls_cert, tls_key;
  Output output = Output::kTable;
  std::shared_ptr<grpc::Channel> Channel();

 private:
  std::shared_ptr<grpc::Channel> channel_;
};

// Parsed arguments of one verb: --flag value, --flag=value, boolean --flag,
// and positionals, in the order given.
class Args {
 public:
  // `value_flags` take a value, `bool_flags` do not; anything else is an error.
  static bool Parse(const std::vector<std::string>& argv,
                    const std::vector<std::string>& value_flags,
                    const std::vector<std::string>& bool_flags, Args* out, std::string* error);
  bool Has(const std::string& flag) const { return flags_.count(flag) > 0; }
  std::string Get(const std::string& flag, const std::string& fallback = "") const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> flags_;
  std::vector<std::string> positional_;
};

// Prints "sfcctl: <what>: <message>" and returns the exit code for status.
int ReportError(const std::string& what, const grpc::Status& status);
int UsageError(const std::string& usage, const std::string& message);
// Prints a message as JSON (proto field names, defaults included).
void PrintJson(const google::protobuf::Message& msg);

// Left-aligned columns, sized to their widest cell.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// A deadline for unary calls so a wedged server cannot hang a script.
void SetDeadline(grpc::ClientContext* ctx, int seconds = 30);

// Reads a whole file, or standard input for "-". False when it cannot be opened.
bool ReadFile(const std::string& path, std::string* out);
// A count for people: 1234567 -> "1.2M", with an optional unit ("B", "B/s").
std::string Human(double v, const char* unit = "");

using Verb = int (*)(Context& ctx, const std::vector<std::string>& args);

}  // namespace sfc::cli
