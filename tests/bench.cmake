# The benchmark's smoke run (< 2 min), included from tests/CMakeLists.txt.
# Label e2e: it needs root, namespaces and XDP. It fails only when the
# benchmark itself breaks, never on a timing (bench/smoke_test.sh).
add_test(NAME Bench.SmokeRunsAndWritesResults
         COMMAND ${CMAKE_SOURCE_DIR}/bench/smoke_test.sh ${CMAKE_BINARY_DIR} ${CMAKE_BINARY_DIR}/bench-smoke)
set_tests_properties(Bench.SmokeRunsAndWritesResults PROPERTIES
  LABELS e2e
  TIMEOUT 400
  # Its CPU pinning and namespaces would disturb (and be disturbed by) other
  # traffic tests running at the same time.
  RUN_SERIAL TRUE)
