# Static dependencies for PICKET_STATIC=ON (included by deps.cmake).
#
# Defines the same dep:: targets as the dynamic branch, as static archives:
#   dep::curl  libcurl rebuilt from Debian's patched source: HTTP/HTTPS only, mbedTLS, c-ares
#   dep::pcap  libpcap rebuilt from Debian's patched source: no D-Bus, RDMA, Bluetooth, USB
#   dep::uv dep::sqlite3 dep::zookeeper dep::zstd   Debian's own .a files
# plus the custom target picket_third_party, which builds the two ExternalProjects. Every module
# and executable depends on it (see picket_module in CMakeLists.txt): dependencies on IMPORTED
# targets alone do not order the Makefile build, and the link would race the ExternalProject.
#
# Why rebuild curl and libpcap: Debian's libcurl.a needs GSS-API and GnuTLS/p11-kit, and its
# libpcap.a needs D-Bus and libsystemd; none of those ship a .a. Details: third_party/README.md.
#
# Native builds take the .a files from the host (/usr/lib/<triplet>). Cross builds take them from
# PICKET_SYSROOT, a private sysroot that cross/make-sysroot.sh unpacks; the toolchain files run it
# (cross/ensure-sysroot.cmake) when the sysroot is missing or incomplete.
include(ExternalProject)

set(PICKET_DEPS_SOURCE_DIR "${PROJECT_SOURCE_DIR}/build/deps-src" CACHE PATH
    "Debian source trees of curl and libpcap (third_party/fetch-sources.sh fills it)")
set(_picket_fetch "${CMAKE_CURRENT_LIST_DIR}/fetch-sources.sh")

# ---- where the target's .a files and headers are ------------------------------------------------
if(CMAKE_CROSSCOMPILING)
  # The toolchain files in cross/ set both and fill the sysroot (cross/ensure-sysroot.cmake).
  if(NOT PICKET_SYSROOT OR NOT PICKET_DEB_ARCH OR NOT EXISTS "${PICKET_SYSROOT}/.packages")
    message(FATAL_ERROR "picket static cross build: use a toolchain file from cross/, which sets "
                        "PICKET_SYSROOT and creates it, e.g. cmake --preset static-aarch64")
  endif()
  set(_picket_root "${PICKET_SYSROOT}")
  set(_picket_where "the sysroot ${PICKET_SYSROOT} (rerun cross/make-sysroot.sh ${PICKET_DEB_ARCH} ${PICKET_SYSROOT})")
else()
  set(_picket_root "")
  set(_picket_where "the host (install it: third_party/setup-debian.sh --static)")
endif()
if(NOT CMAKE_LIBRARY_ARCHITECTURE)
  message(FATAL_ERROR "picket static build: CMAKE_LIBRARY_ARCHITECTURE is unset; a Debian "
                      "multiarch compiler (gcc on Debian, or a toolchain file from cross/) is needed")
endif()
set(_picket_libdir "${_picket_root}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}")
set(_picket_incdir "${_picket_root}/usr/include")

# picket_static_lib(<var> <file> <debian package>): absolute path of one .a, searched only where
# it must come from, never in the host's directories during a cross build.
function(picket_static_lib var file package)
  find_library(${var} NAMES ${file} PATHS "${_picket_libdir}" NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
  if(NOT ${var})
    message(FATAL_ERROR "picket static build: ${file} (Debian package ${package}) not found in "
                        "${_picket_libdir}, i.e. in ${_picket_where}")
  endif()
endfunction()
function(picket_static_include var header package)
  find_path(${var} NAMES ${header} PATHS "${_picket_incdir}" NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
  if(NOT ${var})
    message(FATAL_ERROR "picket static build: ${header} (Debian package ${package}) not found in "
                        "${_picket_incdir}, i.e. in ${_picket_where}")
  endif()
endfunction()

picket_static_lib(PICKET_UV_LIBRARY libuv_a.a libuv1-dev)  # Debian names the static libuv libuv_a
picket_static_lib(PICKET_SQLITE3_LIBRARY libsqlite3.a libsqlite3-dev)
picket_static_lib(PICKET_SECCOMP_LIBRARY libseccomp.a libseccomp-dev)
picket_static_lib(PICKET_ZOOKEEPER_LIBRARY libzookeeper_mt.a libzookeeper-mt-dev)
picket_static_lib(PICKET_MBEDTLS_LIBRARY libmbedtls.a libmbedtls-dev)
picket_static_lib(PICKET_MBEDX509_LIBRARY libmbedx509.a libmbedtls-dev)
picket_static_lib(PICKET_MBEDCRYPTO_LIBRARY libmbedcrypto.a libmbedtls-dev)
picket_static_lib(PICKET_CRYPTO_LIBRARY libcrypto.a libssl-dev)
picket_static_lib(PICKET_CARES_LIBRARY libcares.a libc-ares-dev)
picket_static_lib(PICKET_ZSTD_LIBRARY libzstd.a libzstd-dev)
picket_static_include(PICKET_UV_INCLUDE uv.h libuv1-dev)
picket_static_include(PICKET_SQLITE3_INCLUDE sqlite3.h libsqlite3-dev)
picket_static_include(PICKET_SECCOMP_INCLUDE seccomp.h libseccomp-dev)
picket_static_include(PICKET_ZOOKEEPER_INCLUDE zookeeper/zookeeper.h libzookeeper-mt-dev)
picket_static_include(PICKET_MBEDTLS_INCLUDE mbedtls/ssl.h libmbedtls-dev)
picket_static_include(PICKET_CARES_INCLUDE ares.h libc-ares-dev)
picket_static_include(PICKET_ZSTD_INCLUDE zstd.h libzstd-dev)

# ---- Debian source trees of curl and libpcap ----------------------------------------------------
# The newest unpacked <name>-<version>/ tree (one with debian/changelog) in PICKET_DEPS_SOURCE_DIR.
function(picket_find_source_tree var name)
  file(GLOB _trees LIST_DIRECTORIES true "${PICKET_DEPS_SOURCE_DIR}/${name}-*")
  set(_found "")
  foreach(_t IN LISTS _trees)
    if(IS_DIRECTORY "${_t}" AND EXISTS "${_t}/debian/changelog")
      list(APPEND _found "${_t}")
    endif()
  endforeach()
  set(_newest "")
  if(_found)
    list(SORT _found COMPARE NATURAL ORDER DESCENDING)
    list(GET _found 0 _newest)
  endif()
  set(${var} "${_newest}" PARENT_SCOPE)
endfunction()

picket_find_source_tree(_picket_curl_src curl)
picket_find_source_tree(_picket_pcap_src libpcap)
if(NOT _picket_curl_src OR NOT _picket_pcap_src)
  message(STATUS "Fetching Debian sources of curl and libpcap into ${PICKET_DEPS_SOURCE_DIR}")
  execute_process(COMMAND "${_picket_fetch}" "${PICKET_DEPS_SOURCE_DIR}" RESULT_VARIABLE _picket_rc)
  if(NOT _picket_rc EQUAL 0)
    message(FATAL_ERROR "third_party/fetch-sources.sh ${PICKET_DEPS_SOURCE_DIR} failed (${_picket_rc}). "
                        "The static build rebuilds curl and libpcap from Debian's source packages: "
                        "run third_party/setup-debian.sh --static as root (enables deb-src), then "
                        "configure again.")
  endif()
  picket_find_source_tree(_picket_curl_src curl)
  picket_find_source_tree(_picket_pcap_src libpcap)
  if(NOT _picket_curl_src OR NOT _picket_pcap_src)
    message(FATAL_ERROR "no curl-*/ or libpcap-*/ source tree in ${PICKET_DEPS_SOURCE_DIR} "
                        "after third_party/fetch-sources.sh")
  endif()
endif()
message(STATUS "Static deps: ${_picket_curl_src}, ${_picket_pcap_src}, .a files from ${_picket_libdir}")

# ---- ExternalProjects ---------------------------------------------------------------------------
set(PICKET_DEPS_PREFIX "${CMAKE_BINARY_DIR}/third_party")
set(_picket_deps_install "${PICKET_DEPS_PREFIX}/install")
# The imported targets name this directory before anything is installed there.
file(MAKE_DIRECTORY "${_picket_deps_install}/include")

# Always size-optimised, with sections the final -Wl,--gc-sections can drop. Only the per-config
# flags are set: CMAKE_C_FLAGS would replace the toolchain file's -isystem sysroot flags.
set(_picket_ep_args
    -DCMAKE_INSTALL_PREFIX=${_picket_deps_install}
    -DCMAKE_INSTALL_LIBDIR=lib
    -DCMAKE_BUILD_TYPE=MinSizeRel
    "-DCMAKE_C_FLAGS_MINSIZEREL=-Os -DNDEBUG -ffunction-sections -fdata-sections"
    -DCMAKE_POSITION_INDEPENDENT_CODE=OFF
    -DBUILD_SHARED_LIBS=OFF
    -DCMAKE_INSTALL_MESSAGE=NEVER)
if(CMAKE_TOOLCHAIN_FILE)
  # The sub-builds read the toolchain file afresh: without PICKET_SYSROOT they would silently use
  # the toolchain's default sysroot.
  list(APPEND _picket_ep_args -DCMAKE_TOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE}
                              -DPICKET_SYSROOT=${PICKET_SYSROOT})
else()
  list(APPEND _picket_ep_args -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER})
endif()
set(_picket_ep_logging LOG_CONFIGURE ON LOG_BUILD ON LOG_INSTALL ON LOG_OUTPUT_ON_FAILURE ON)

ExternalProject_Add(picket_ep_curl
  PREFIX "${PICKET_DEPS_PREFIX}/curl"
  SOURCE_DIR "${_picket_curl_src}"
  INSTALL_DIR "${_picket_deps_install}"
  CMAKE_ARGS ${_picket_ep_args}
    -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DENABLE_MANUAL=OFF -DPICKY_COMPILER=OFF
    -DHTTP_ONLY=ON -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON
    -DCURL_DISABLE_NTLM=ON
    # No ~/.netrc: it needs getpwuid_r, which a static glibc may dlopen NSS modules for.
    -DCURL_DISABLE_NETRC=ON
    -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DCURL_USE_GSSAPI=OFF
    -DUSE_LIBIDN2=OFF -DCURL_USE_LIBPSL=OFF -DUSE_NGHTTP2=OFF
    -DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DCMAKE_DISABLE_FIND_PACKAGE_ZLIB=ON
    # TLS by mbedTLS: OpenSSL's libssl pulls in its providers, ASN.1 and every cipher (3.6 MB of
    # an 8.5 MB aarch64 picketd); mbedTLS does the device's one job (a TLS 1.2 client with a CA
    # file and an optional client certificate) in a fraction. cross/README.md has the figures.
    -DCURL_USE_OPENSSL=OFF -DCURL_USE_MBEDTLS=ON
    -DMBEDTLS_INCLUDE_DIRS=${PICKET_MBEDTLS_INCLUDE}
    -DMBEDTLS_LIBRARY=${PICKET_MBEDTLS_LIBRARY}
    -DMBEDX509_LIBRARY=${PICKET_MBEDX509_LIBRARY}
    -DMBEDCRYPTO_LIBRARY=${PICKET_MBEDCRYPTO_LIBRARY}
    # c-ares: curl's own name resolution never goes through glibc's getaddrinfo/NSS.
    -DENABLE_ARES=ON -DCARES_INCLUDE_DIR=${PICKET_CARES_INCLUDE} -DCARES_LIBRARY=${PICKET_CARES_LIBRARY}
    -DCURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt -DCURL_CA_PATH=none
    # Leave CURL_ENABLE_EXPORT_TARGET at ON: in 7.88, OFF also skips installing libcurl.a.
  BUILD_BYPRODUCTS "${_picket_deps_install}/lib/libcurl.a"
  ${_picket_ep_logging})

ExternalProject_Add(picket_ep_pcap
  PREFIX "${PICKET_DEPS_PREFIX}/libpcap"
  SOURCE_DIR "${_picket_pcap_src}"
  INSTALL_DIR "${_picket_deps_install}"
  CMAKE_ARGS ${_picket_ep_args}
    -DDISABLE_DBUS=ON -DDISABLE_RDMA=ON -DDISABLE_BLUETOOTH=ON -DBUILD_WITH_LIBNL=OFF
    -DDISABLE_LINUX_USBMON=ON -DDISABLE_NETMAP=ON -DDISABLE_DPDK=ON -DENABLE_REMOTE=OFF
    # OpenSSL only serves rpcap-over-TLS (ENABLE_REMOTE); without this, libpcap would find the
    # shared libssl and list it in its link interface.
    -DCMAKE_DISABLE_FIND_PACKAGE_OpenSSL=ON
  BUILD_BYPRODUCTS "${_picket_deps_install}/lib/libpcap.a"
  ${_picket_ep_logging})

add_custom_target(picket_third_party)
add_dependencies(picket_third_party picket_ep_curl picket_ep_pcap)

# ---- the dep:: targets --------------------------------------------------------------------------
add_library(dep::pcap STATIC IMPORTED)
set_target_properties(dep::pcap PROPERTIES
  IMPORTED_LOCATION "${_picket_deps_install}/lib/libpcap.a"
  INTERFACE_INCLUDE_DIRECTORIES "${_picket_deps_install}/include")

add_library(dep::curl STATIC IMPORTED)
set_target_properties(dep::curl PROPERTIES
  IMPORTED_LOCATION "${_picket_deps_install}/lib/libcurl.a"
  INTERFACE_INCLUDE_DIRECTORIES "${_picket_deps_install}/include"
  INTERFACE_COMPILE_DEFINITIONS "CURL_STATICLIB;PICKET_CURL_MBEDTLS")
# tls, x509, crypto in that order: a static link resolves left to right.
target_link_libraries(dep::curl INTERFACE ${PICKET_CARES_LIBRARY} ${PICKET_MBEDTLS_LIBRARY}
  ${PICKET_MBEDX509_LIBRARY} ${PICKET_MBEDCRYPTO_LIBRARY} Threads::Threads ${CMAKE_DL_LIBS})

add_library(dep::zstd STATIC IMPORTED)
set_target_properties(dep::zstd PROPERTIES
  IMPORTED_LOCATION "${PICKET_ZSTD_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${PICKET_ZSTD_INCLUDE}")

add_library(dep::uv STATIC IMPORTED)
set_target_properties(dep::uv PROPERTIES
  IMPORTED_LOCATION "${PICKET_UV_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${PICKET_UV_INCLUDE}")
target_link_libraries(dep::uv INTERFACE Threads::Threads ${CMAKE_DL_LIBS} rt)

add_library(dep::sqlite3 STATIC IMPORTED)
set_target_properties(dep::sqlite3 PROPERTIES
  IMPORTED_LOCATION "${PICKET_SQLITE3_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${PICKET_SQLITE3_INCLUDE}")
target_link_libraries(dep::sqlite3 INTERFACE m ${CMAKE_DL_LIBS})

# The worker's syscall allowlist (capture/syscall_filter.cc). libseccomp and the ZooKeeper
# client both define a global `hash`: in one static link libseccomp's BPF generator would call
# ZooKeeper's (a null function pointer, SIGSEGV in seccomp_load). A renamed copy keeps them apart.
set(_picket_seccomp_renamed "${CMAKE_BINARY_DIR}/deps/libseccomp-renamed.a")
file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/deps")
execute_process(COMMAND "${CMAKE_OBJCOPY}" --redefine-sym hash=picket_seccomp_hash
                        "${PICKET_SECCOMP_LIBRARY}" "${_picket_seccomp_renamed}"
                RESULT_VARIABLE _picket_rc)
if(NOT _picket_rc EQUAL 0)
  message(FATAL_ERROR "objcopy --redefine-sym on ${PICKET_SECCOMP_LIBRARY} failed (${_picket_rc})")
endif()
add_library(dep::seccomp STATIC IMPORTED)
set_target_properties(dep::seccomp PROPERTIES
  IMPORTED_LOCATION "${_picket_seccomp_renamed}"
  INTERFACE_INCLUDE_DIRECTORIES "${PICKET_SECCOMP_INCLUDE}")

add_library(dep::zookeeper STATIC IMPORTED)
set_target_properties(dep::zookeeper PROPERTIES
  IMPORTED_LOCATION "${PICKET_ZOOKEEPER_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${PICKET_ZOOKEEPER_INCLUDE}")
target_link_libraries(dep::zookeeper INTERFACE Threads::Threads)
