# Shared build rules: warnings, sanitizers, dependencies and the wa_library() helper.
find_package(PkgConfig REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Protobuf REQUIRED)
pkg_check_modules(SIGNAL REQUIRED IMPORTED_TARGET libsignal-protocol-c)
if(NOT WA_FUZZ)
  find_package(GTest REQUIRED)
endif()

# Warnings are errors on our own targets only (generated protobuf code gets none of this).
function(wa_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror)
endfunction()

if(WA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(WA_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Code layout (docs/architecture.md, "Code layout"): in optimised GCC builds every function gets its own section,
# so that the zapd link can place the functions a running gateway executes next to each other (apps/zapd).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND NOT WA_SANITIZE AND NOT WA_FUZZ AND CMAKE_BUILD_TYPE MATCHES "^Rel")
  set(WA_LAYOUT ON)
  add_compile_options(-ffunction-sections)
endif()

# wa_library(name SOURCES ... DEPS ... PRIVATE_DEPS ...)
# Creates wa_<name> with include/ public, and, unless fuzzing, wa_<name>_test from test/*_test.cpp (label unit).
function(wa_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(wa_${name} STATIC ${ARG_SOURCES})
  target_include_directories(wa_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(wa_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  wa_warnings(wa_${name})
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test/*_test.cpp)
  if(tests AND NOT WA_FUZZ)
    add_executable(wa_${name}_test ${tests})
    target_link_libraries(wa_${name}_test PRIVATE wa_${name} ${ARG_PRIVATE_DEPS} GTest::gtest_main)
    wa_warnings(wa_${name}_test)
    add_test(NAME unit.${name} COMMAND wa_${name}_test)
    set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 300)
  endif()
endfunction()
