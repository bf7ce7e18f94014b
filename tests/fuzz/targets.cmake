# The fuzz targets and the daemon sources they run, shared by the main build
# (replay binaries) and tests/fuzz/libfuzzer (clang, libFuzzer + sanitizers).
set(SFC_FUZZ_TARGETS chain_spec efw_rules elb_config efm_config api_requests trace_packet)

# Pure sources only: parsers, validators, the rule compiler, request
# conversions. Nothing here opens a BPF object or a socket.
set(SFC_FUZZ_DAEMON_SOURCES
  common/status.cc common/log.cc common/json_fields.cc common/failpoint.cc common/latency_histogram.cc
  engine/chain_spec.cc
  api/convert.cc
  dpi/app_catalog.cc
  efw/config.cc efw/compiler.cc efw/edits.cc efw/requests.cc
  elb/config.cc elb/maglev.cc elb/requests.cc
  efm/config.cc efm/flow_record.cc efm/flow_tracker.cc efm/flow_query.cc efm/requests.cc
  trace/packet_expr.cc trace/frame.cc)
