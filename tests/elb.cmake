# eLB tests; included from tests/CMakeLists.txt (uses its sfc_add_test).
set(ELB_TESTS ${CMAKE_CURRENT_LIST_DIR})

sfc_add_test(elb_unit_tests unit
  ${ELB_TESTS}/unit/elb_maglev_test.cc
  ${ELB_TESTS}/unit/elb_config_test.cc
  ${ELB_TESTS}/unit/elb_plan_test.cc
  ${ELB_TESTS}/unit/elb_health_test.cc
  ${ELB_TESTS}/unit/elb_conn_sweep_test.cc)
target_link_libraries(elb_unit_tests PRIVATE sfc_elb_core)
# The example chain files are checked too.
target_compile_definitions(elb_unit_tests PRIVATE SFC_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

sfc_add_test(elb_bpf_tests bpf ${ELB_TESTS}/bpf/elb_lb_test.cc)
target_link_libraries(elb_bpf_tests PRIVATE sfc_vnf_elb)

# elb-bench (bench/elb_bench.cc): per-packet cost through a loaded chain.
# Defined here because it is built on the test fixture; run it as root.
add_executable(elb-bench ${CMAKE_SOURCE_DIR}/bench/elb_bench.cc)
target_link_libraries(elb-bench PRIVATE sfc_test_chain)

if(TARGET sfc_test_e2e)
  sfc_add_test(elb_e2e_tests e2e ${ELB_TESTS}/e2e/elb_e2e_test.cc)
  target_link_libraries(elb_e2e_tests PRIVATE sfc_test_e2e)
  add_dependencies(elb_e2e_tests sfcd sfcctl)
endif()
