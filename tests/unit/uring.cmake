# uring/ ingest engine tests, included by tests/unit/CMakeLists.txt.
# test_ingest exits 77 (skip) when no io_uring ring can be made; its
# threads-path tests then still run under test_ingest_threads.
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_ingest.c)
  udos_unit_test(test_ingest)
  set_tests_properties(test_ingest PROPERTIES TIMEOUT 300)
  add_test(NAME test_ingest_threads COMMAND test_ingest)
  set_tests_properties(test_ingest_threads PROPERTIES TIMEOUT 300
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;UDOS_INGEST_NO_URING=1")
endif()
# the readers under every size class, queue depth and memory cap
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/test_ingest_mix.c)
  udos_unit_test(test_ingest_mix)
  set_tests_properties(test_ingest_mix PROPERTIES TIMEOUT 900)
endif()
