# The part of every cross toolchain file that does not depend on the target:
# Debian's cross gcc, the private sysroot, the search paths and qemu-user.
# A toolchain file sets CMAKE_SYSTEM_PROCESSOR, PICKET_TARGET_TRIPLET,
# PICKET_DEB_ARCH, PICKET_QEMU_NAME and optionally PICKET_TARGET_FLAGS, then
# includes this file.
set(CMAKE_SYSTEM_NAME Linux)

set(CMAKE_C_COMPILER ${PICKET_TARGET_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${PICKET_TARGET_TRIPLET}-g++)
set(CMAKE_AR ${PICKET_TARGET_TRIPLET}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${PICKET_TARGET_TRIPLET}-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${PICKET_TARGET_TRIPLET}-strip CACHE FILEPATH "")
set(CMAKE_LIBRARY_ARCHITECTURE ${PICKET_TARGET_TRIPLET})

if(NOT PICKET_SYSROOT AND DEFINED ENV{PICKET_SYSROOT})
  set(PICKET_SYSROOT $ENV{PICKET_SYSROOT})
endif()
if(NOT PICKET_SYSROOT)
  get_filename_component(PICKET_SYSROOT ${CMAKE_CURRENT_LIST_DIR}/../build/sysroot/${PICKET_DEB_ARCH} ABSOLUTE)
endif()
# try_compile projects re-read this file: hand them the same sysroot, not the default.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES PICKET_SYSROOT)
include(${CMAKE_CURRENT_LIST_DIR}/ensure-sysroot.cmake)

set(CMAKE_FIND_ROOT_PATH ${PICKET_SYSROOT} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Target headers first; the host's /usr/include only last (-idirafter), for the header-only
# packages. gcc then lists /usr/include as a system directory, so CMake treats it as implicit and
# never adds "-isystem /usr/include" for Boost::headers or nlohmann_json: that would put the
# host's glibc headers in front of the target's.
set(_picket_include_flags "-isystem ${PICKET_SYSROOT}/usr/include/${PICKET_TARGET_TRIPLET} -isystem ${PICKET_SYSROOT}/usr/include -idirafter /usr/include")
set(CMAKE_C_FLAGS_INIT "${_picket_include_flags} ${PICKET_TARGET_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${_picket_include_flags} ${PICKET_TARGET_FLAGS}")

find_program(PICKET_QEMU ${PICKET_QEMU_NAME})
if(PICKET_QEMU)
  # try_run, doctest_discover_tests and ctest run target programs through qemu-user.
  set(CMAKE_CROSSCOMPILING_EMULATOR ${PICKET_QEMU} -L /usr/${PICKET_TARGET_TRIPLET})
endif()
