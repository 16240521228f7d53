# Toolchain: ARMv7 hard-float (Debian armhf) with Debian's cross gcc and a private sysroot.
#
#   cmake --preset static-armhf        (sets PICKET_SYSROOT=build/sysroot/armhf)
#
# glibc and kernel headers come from the cross toolchain (crossbuild-essential-armhf, under
# /usr/arm-linux-gnueabihf). The target's other libraries (.a + headers) come from PICKET_SYSROOT,
# unpacked by cross/make-sysroot.sh, which ensure-sysroot.cmake runs when it is missing.
# Header-only host packages (Boost, nlohmann_json, doctest) are found through "/".
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(PICKET_TARGET_TRIPLET arm-linux-gnueabihf)
set(PICKET_DEB_ARCH armhf)

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
# 64-bit off_t/ino_t, as Debian builds libuv and sqlite3 for armhf (they call open64, pread64,
# readdir64...). Without it, uv_fs_t (it holds an off_t) differs between picket and libuv_a.a,
# and a 32-bit readdir() fails with EOVERFLOW on 64-bit directory hashes (ext4 under qemu-user,
# seen as a buffer test that "could not" delete files). Not _TIME_BITS=64: bookworm's armhf
# libraries use a 32-bit time_t, so mixing the two would break struct timeval/timespec ABIs.
set(_picket_lfs_flags "-D_FILE_OFFSET_BITS=64")
set(CMAKE_C_FLAGS_INIT "${_picket_include_flags} ${_picket_lfs_flags}")
set(CMAKE_CXX_FLAGS_INIT "${_picket_include_flags} ${_picket_lfs_flags}")

find_program(PICKET_QEMU qemu-arm-static)
if(PICKET_QEMU)
  # try_run, doctest_discover_tests and ctest run target programs through qemu-user.
  set(CMAKE_CROSSCOMPILING_EMULATOR ${PICKET_QEMU} -L /usr/${PICKET_TARGET_TRIPLET})
endif()
