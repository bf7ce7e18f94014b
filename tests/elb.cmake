# eLB tests; included from tests/CMakeLists.txt.
sfc_add_test(elb_unit_tests unit
  unit/elb_maglev_test.cc
  unit/elb_config_test.cc
  unit/elb_plan_test.cc
  unit/elb_health_test.cc)
target_link_libraries(elb_unit_tests PRIVATE sfc_elb_core)

sfc_add_test(elb_bpf_tests bpf bpf/elb_lb_test.cc)
target_link_libraries(elb_bpf_tests PRIVATE sfc_vnf_elb)
