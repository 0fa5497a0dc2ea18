# Helpers that mint valid TAOs for any test area and the benchmarks
# (included by bench/ too when the tests are not built).
add_library(taogate_tao_testing STATIC ${CMAKE_CURRENT_LIST_DIR}/tao_testing.cc)
target_include_directories(taogate_tao_testing PUBLIC ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(taogate_tao_testing PUBLIC taogate::tao taogate::common)
taogate_target(taogate_tao_testing)
