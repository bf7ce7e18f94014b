// sfcctl: the command line for sfcd, kubectl-style verbs over gRPC.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "chain_cmds.h"
#include "cli.h"
#include "dpi.h"
#include "flows.h"
#include "fw.h"
#include "lb.h"
#include "monitor.h"
#include "trace.h"
#include "version.h"

namespace {

struct VerbEntry {
  const char* name;
  const char* summary;
  sfc::cli::Verb run;
};

const VerbEntry kVerbs[] = {
    {"apply", "create or update a chain from a chain file (-f FILE [--dry-run])",
     sfc::cli::RunApply},
    {"get", "list chains (get chains)", sfc::cli::RunGet},
    {"describe", "show one chain in detail (describe chain NAME)", sfc::cli::RunDescribe},
    {"delete", "detach a chain and remove its pins (delete chain NAME)", sfc::cli::RunDelete},
    {"stats", "show a chain's counters (stats NAME [--watch])", sfc::cli::RunStats},
    {"flows", "show a chain's flows (flows NAME [--top N] [--sort bytes] [--watch])",
     sfc::cli::RunFlows},
    {"dpi", "show what the dpi VNF classified (dpi apps|flows CHAIN [VNF], dpi protocols)",
     sfc::cli::RunDpi},
    {"fw",
     "edit and list firewall rules (fw add-rule|delete-rule|list-rules|replace-rules|set-default)",
     sfc::cli::RunFw},
    {"lb",
     "manage load-balancer services and backends (lb "
     "list-services|add-backend|set-weight|drain|...)",
     sfc::cli::RunLb},
    {"monitor",
     "stream a chain's drops or verdicts (monitor NAME [--vnf V] [--drops|--all] [--sample N])",
     sfc::cli::RunMonitor},
    {"trace", "run one crafted packet through a chain, hop by hop (trace NAME 'PACKET')",
     sfc::cli::RunTrace},
    {"version", "show the client's and the server's version (version [--client])",
     sfc::cli::RunVersion},
};

void Usage(FILE* out) {
  std::fputs(
      "usage: sfcctl [--server ADDR] [-o table|json] VERB [ARGS...]\n\n"
      "Controls sfcd, the sfc service-function-chaining daemon.\n\nverbs:\n",
      out);
  for (const auto& v : kVerbs) std::fprintf(out, "  %-10s %s\n", v.name, v.summary);
  std::fputs(
      "\nglobal options:\n"
      "  --server ADDR   unix:PATH or HOST:PORT (default $SFC_SERVER, else\n"
      "                  unix:/run/sfcd/sfcd.sock)\n"
      "  --tls-ca F, --tls-cert F, --tls-key F   TLS files for a HOST:PORT server\n"
      "  -o, --output    table (default) or json\n"
      "  -h, --help      this text; VERB --help for a verb's own\n\n"
      "exit codes: 0 ok, 1 request failed, 2 bad usage, 3 server unreachable\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  sfc::cli::Context ctx;
  const char* env = std::getenv("SFC_SERVER");
  ctx.server = env && *env ? env : "unix:/run/sfcd/sfcd.sock";

  // Global options come before the verb; the verb parses the rest.
  int i = 1;
  auto value = [&](const char* flag) -> const char* {
    std::string a = argv[i];
    if (auto eq = a.find('='); eq != std::string::npos) return argv[i] + eq + 1;
    if (i + 1 >= argc) {
      std::fprintf(stderr, "sfcctl: %s needs a value\n", flag);
      std::exit(sfc::cli::kExitUsage);
    }
    return argv[++i];
  };
  for (; i < argc && argv[i][0] == '-'; ++i) {
    std::string a = argv[i];
    std::string flag = a.substr(0, a.find('='));
    if (flag == "-h" || flag == "--help") {
      Usage(stdout);
      return 0;
    } else if (flag == "--server") {
      ctx.server = value("--server");
    } else if (flag == "--tls-ca") {
      ctx.tls_ca = value("--tls-ca");
    } else if (flag == "--tls-cert") {
      ctx.tls_cert = value("--tls-cert");
    } else if (flag == "--tls-key") {
      ctx.tls_key = value("--tls-key");
    } else if (flag == "-o" || flag == "--output") {
      std::string out = value("-o");
      if (out == "json")
        ctx.output = sfc::cli::Output::kJson;
      else if (out == "table")
        ctx.output = sfc::cli::Output::kTable;
      else {
        std::fprintf(stderr, "sfcctl: -o: \"%s\" is not one of table, json\n", out.c_str());
        return sfc::cli::kExitUsage;
      }
    } else {
      std::fprintf(stderr, "sfcctl: unknown option %s\n\n", a.c_str());
      Usage(stderr);
      return sfc::cli::kExitUsage;
    }
  }
  if (i >= argc) {
    Usage(stderr);
    return sfc::cli::kExitUsage;
  }
  std::string verb = argv[i++];
  std::vector<std::string> args(argv + i, argv + argc);
  // -o may also follow the verb, as kubectl allows.
  for (size_t k = 0; k < args.size(); ++k) {
    if ((args[k] == "-o" || args[k] == "--output") && k + 1 < args.size()) {
      ctx.output = args[k + 1] == "json" ? sfc::cli::Output::kJson : sfc::cli::Output::kTable;
      if (args[k + 1] != "json" && args[k + 1] != "table") {
        std::fprintf(stderr, "sfcctl: -o: \"%s\" is not one of table, json\n", args[k + 1].c_str());
        return sfc::cli::kExitUsage;
      }
      args.erase(args.begin() + k, args.begin() + k + 2);
      --k;
    }
  }
  for (const auto& v : kVerbs)
    if (verb == v.name) return v.run(ctx, args);
  std::fprintf(stderr, "sfcctl: unknown verb \"%s\"\n\n", verb.c_str());
  Usage(stderr);
  return sfc::cli::kExitUsage;
}
