# Compile flags for taogate's own targets. Third-party code (generated protobuf
# sources, system headers) does not get -Werror; our code does.
set(TAOGATE_WARNINGS -Wall -Wextra -Werror -Wno-unused-parameter -Wnon-virtual-dtor -Wformat=2)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  list(APPEND TAOGATE_WARNINGS -Wshadow=local)
endif()

if(TAOGATE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

if(TAOGATE_FUZZ AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "TAOGATE_FUZZ needs clang (CXX=clang++)")
endif()

# taogate_target(NAME): apply our warnings and include conventions.
function(taogate_target name)
  target_compile_options(${name} PRIVATE ${TAOGATE_WARNINGS})
endfunction()

# taogate_library(NAME ALIAS SOURCES...): a static library with public headers
# in <dir>/include.
function(taogate_library name alias)
  add_library(${name} STATIC ${ARGN})
  add_library(${alias} ALIAS ${name})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  taogate_target(${name})
endfunction()

# Version string baked into every binary.
set(TAOGATE_VERSION_STRING "${PROJECT_VERSION}")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short HEAD
                  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                  OUTPUT_VARIABLE TAOGATE_GIT_REV OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(TAOGATE_GIT_REV)
    set(TAOGATE_VERSION_STRING "${PROJECT_VERSION}+${TAOGATE_GIT_REV}")
  endif()
endif()
