# eFM tests, included from tests/CMakeLists.txt (uses its sfc_add_test).
# Paths are relative to this file so it works from any including directory.
set(EFM_TESTS ${CMAKE_CURRENT_LIST_DIR})

sfc_add_test(efm_unit_tests unit
  ${EFM_TESTS}/unit/efm_config_test.cc ${EFM_TESTS}/unit/efm_tracker_test.cc
  ${EFM_TESTS}/unit/efm_query_test.cc ${EFM_TESTS}/unit/efm_ipfix_test.cc
  ${EFM_TESTS}/unit/efm_watcher_test.cc)
target_link_libraries(efm_unit_tests PRIVATE sfc_efm_core sfc_efm_requests)

sfc_add_test(efm_bpf_tests bpf ${EFM_TESTS}/bpf/efm_flow_test.cc)
target_link_libraries(efm_bpf_tests PRIVATE sfc_vnf_efm)

if(TARGET sfc_test_e2e)
  sfc_add_test(efm_e2e_tests e2e ${EFM_TESTS}/e2e/efm_e2e_test.cc)
  target_link_libraries(efm_e2e_tests PRIVATE sfc_test_e2e)
  add_dependencies(efm_e2e_tests sfcd sfcctl)
endif()

# Benchmark (not a test): per-packet cost against table size. Run as root:
#   <build>/tests/efm_bench [--flows 1000,100000,1000000] [--samples N]
add_executable(efm_bench ${CMAKE_SOURCE_DIR}/bench/efm_bench.cc)
target_link_libraries(efm_bench PRIVATE sfc_test_chain sfc_efm_core)
