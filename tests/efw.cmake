# eFW tests. Included from tests/CMakeLists.txt (sfc_add_test is defined there).
set(EFW_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

# Pure: rule parsing/validation, edits, compiler vs. the reference model.
sfc_add_test(efw_rules_test unit ${EFW_TEST_DIR}/unit/efw_rules_test.cc)
target_link_libraries(efw_rules_test PRIVATE sfc_efw_core)
target_compile_definitions(efw_rules_test PRIVATE SFC_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
sfc_add_test(efw_compiler_test unit ${EFW_TEST_DIR}/unit/efw_compiler_test.cc)
target_link_libraries(efw_compiler_test PRIVATE sfc_efw_core)
target_include_directories(efw_compiler_test PRIVATE ${EFW_TEST_DIR}/unit)

# Data plane through BPF_PROG_TEST_RUN in a loaded chain (needs root).
sfc_add_test(efw_bpf_test bpf ${EFW_TEST_DIR}/bpf/efw_test.cc)
target_link_libraries(efw_bpf_test PRIVATE sfc_vnf_efw)

# FirewallService calls against a loaded chain (in-process, no socket).
sfc_add_test(efw_service_test bpf ${EFW_TEST_DIR}/bpf/efw_service_test.cc)
target_link_libraries(efw_service_test PRIVATE sfc_vnf_efw)

# Random rule sets x random packets: the BPF program against the reference model.
sfc_add_test(efw_diff_test bpf ${EFW_TEST_DIR}/bpf/efw_diff_test.cc)
target_link_libraries(efw_diff_test PRIVATE sfc_vnf_efw)
target_include_directories(efw_diff_test PRIVATE ${EFW_TEST_DIR}/unit)

# efw_bench (bench/efw_bench.cc): per-packet cost vs. rule count, install time.
add_executable(efw_bench ${CMAKE_SOURCE_DIR}/bench/efw_bench.cc)
target_link_libraries(efw_bench PRIVATE sfc_test_chain sfc_vnf_efw)

# cli/fw.cc is linked into sfcctl by cli/CMakeLists.txt; until it is, this
# keeps it compiling.
if(NOT TARGET sfc_cli_fw_check AND TARGET sfc_cli)
  get_target_property(_sfc_cli_sources sfc_cli SOURCES)
  if(NOT "fw.cc" IN_LIST _sfc_cli_sources)
    add_library(sfc_cli_fw_check OBJECT EXCLUDE_FROM_ALL ${CMAKE_SOURCE_DIR}/cli/fw.cc)
    target_link_libraries(sfc_cli_fw_check PRIVATE sfc_cli nlohmann_json::nlohmann_json)
  endif()
endif()

# End to end: real sfcd/sfcctl, namespaces, traffic.
if(TARGET sfc_test_e2e)
  sfc_add_test(efw_e2e_test e2e ${EFW_TEST_DIR}/e2e/efw_e2e_test.cc)
  target_link_libraries(efw_e2e_test PRIVATE sfc_test_e2e)
  add_dependencies(efw_e2e_test sfcd sfcctl)
endif()

# metrics_bench (bench/metrics_bench.cc): /metrics scrape time, empty vs. 1M-entry tables.
add_executable(metrics_bench ${CMAKE_SOURCE_DIR}/bench/metrics_bench.cc)
target_link_libraries(metrics_bench PRIVATE sfc_test_chain sfc_vnf_efw sfc_metrics)
