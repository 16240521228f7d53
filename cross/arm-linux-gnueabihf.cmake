# Toolchain: ARMv7 hard-float (Debian armhf) with Debian's cross gcc and a private sysroot.
#
#   cmake --preset static-armhf        (sets PICKET_SYSROOT=build/sysroot/armhf)
#
# glibc and kernel headers come from the cross toolchain (crossbuild-essential-armhf, under
# /usr/arm-linux-gnueabihf). The target's other libraries (.a + headers) come from PICKET_SYSROOT,
# unpacked by cross/make-sysroot.sh, which ensure-sysroot.cmake runs when it is missing.
# Header-only host packages (Boost, nlohmann_json, doctest) are found through "/".
set(CMAKE_SYSTEM_PROCESSOR arm)
set(PICKET_TARGET_TRIPLET arm-linux-gnueabihf)
set(PICKET_DEB_ARCH armhf)
set(PICKET_QEMU_NAME qemu-arm-static)
# 64-bit off_t/ino_t, as Debian builds libuv and sqlite3 for armhf (they call open64, pread64,
# readdir64...). Without it, uv_fs_t (it holds an off_t) differs between picket and libuv_a.a,
# and a 32-bit readdir() fails with EOVERFLOW on 64-bit directory hashes (ext4 under qemu-user,
# seen as a buffer test that "could not" delete files). Not _TIME_BITS=64: bookworm's armhf
# libraries use a 32-bit time_t, so mixing the two would break struct timeval/timespec ABIs.
set(PICKET_TARGET_FLAGS "-D_FILE_OFFSET_BITS=64")
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
