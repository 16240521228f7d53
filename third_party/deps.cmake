# Every external library as one target, whatever the build:
#   dep::pcap dep::curl dep::uv dep::sqlite3 dep::zookeeper dep::json dep::boost
#   dep::crypto (OpenSSL libcrypto) dep::zlib dep::zstd
#   dep::mariadb (Connector/C; central builds only, never linked into picketd)
#   dep::ndpi (nDPI 4.2, session labels; central builds only)
# Dynamic builds (dev, asan) take Debian's -dev packages; static builds
# (PICKET_STATIC=ON) come from static_deps.cmake: Debian's .a files plus curl
# and libpcap rebuilt from Debian's source packages.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(Boost 1.74 REQUIRED)

# OpenSSL's libcrypto (SHA-1/SHA-256 through its low-level calls, common/digest.cc) and zlib
# (gzip bodies): Debian's .a in static builds.
if(PICKET_STATIC)
  set(OPENSSL_USE_STATIC_LIBS TRUE)
  set(ZLIB_USE_STATIC_LIBS TRUE)
endif()
find_package(OpenSSL 3 REQUIRED)
find_package(ZLIB REQUIRED)
add_library(dep::crypto INTERFACE IMPORTED)
target_link_libraries(dep::crypto INTERFACE OpenSSL::Crypto ${CMAKE_DL_LIBS} Threads::Threads)
add_library(dep::zlib INTERFACE IMPORTED)
target_link_libraries(dep::zlib INTERFACE ZLIB::ZLIB)

add_library(dep::json INTERFACE IMPORTED)
target_link_libraries(dep::json INTERFACE nlohmann_json::nlohmann_json)
add_library(dep::boost INTERFACE IMPORTED)
target_link_libraries(dep::boost INTERFACE Boost::headers Threads::Threads)
# Beast and Asio without deprecated interfaces; header-only, no -lboost_system in 1.74.
target_compile_definitions(dep::boost INTERFACE BOOST_ASIO_NO_DEPRECATED)

if(PICKET_STATIC)
  include(${CMAKE_CURRENT_LIST_DIR}/static_deps.cmake)
  return()
endif()

find_package(PkgConfig REQUIRED)
pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET libpcap)
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
pkg_check_modules(UV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
find_library(ZOOKEEPER_MT_LIB zookeeper_mt REQUIRED)
find_path(ZOOKEEPER_INCLUDE zookeeper/zookeeper.h REQUIRED)

add_library(dep::pcap INTERFACE IMPORTED)
target_link_libraries(dep::pcap INTERFACE PkgConfig::PCAP)
add_library(dep::curl INTERFACE IMPORTED)
target_link_libraries(dep::curl INTERFACE PkgConfig::CURL)
add_library(dep::uv INTERFACE IMPORTED)
target_link_libraries(dep::uv INTERFACE PkgConfig::UV)
add_library(dep::sqlite3 INTERFACE IMPORTED)
target_link_libraries(dep::sqlite3 INTERFACE PkgConfig::SQLITE3)
add_library(dep::seccomp INTERFACE IMPORTED)
target_link_libraries(dep::seccomp INTERFACE PkgConfig::SECCOMP)
add_library(dep::zstd INTERFACE IMPORTED)
target_link_libraries(dep::zstd INTERFACE PkgConfig::ZSTD)
add_library(dep::zookeeper INTERFACE IMPORTED)
target_include_directories(dep::zookeeper INTERFACE ${ZOOKEEPER_INCLUDE})
target_link_libraries(dep::zookeeper INTERFACE ${ZOOKEEPER_MT_LIB} Threads::Threads)

# MariaDB Connector/C for `picket sync` (central code only; static edge builds
# set PICKET_BUILD_CENTRAL=OFF and never look for it).
if(PICKET_BUILD_CENTRAL)
  pkg_check_modules(MARIADB REQUIRED IMPORTED_TARGET libmariadb)
  add_library(dep::mariadb INTERFACE IMPORTED)
  target_link_libraries(dep::mariadb INTERFACE PkgConfig::MARIADB)
  # nDPI 4.2 (libndpi4.2; libgcrypt for its TLS/QUIC dissectors): central binary only.
  pkg_check_modules(NDPI REQUIRED IMPORTED_TARGET libndpi)
  add_library(dep::ndpi INTERFACE IMPORTED)
  target_link_libraries(dep::ndpi INTERFACE PkgConfig::NDPI)
endif()
