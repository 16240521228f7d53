# Toolchain: aarch64 (Debian arm64) with Debian's cross gcc and a private sysroot.
#
#   cmake --preset static-aarch64        (sets PICKET_SYSROOT=build/sysroot/arm64)
#
# glibc and kernel headers come from the cross toolchain (crossbuild-essential-arm64, under
# /usr/aarch64-linux-gnu). The target's other libraries (.a + headers) come from PICKET_SYSROOT,
# unpacked by cross/make-sysroot.sh, which ensure-sysroot.cmake runs when it is missing.
# Header-only host packages (Boost, nlohmann_json, doctest) are found through "/".
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(PICKET_TARGET_TRIPLET aarch64-linux-gnu)
set(PICKET_DEB_ARCH arm64)
set(PICKET_QEMU_NAME qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
