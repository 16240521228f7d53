# .deb of picketd for the build's architecture: `cpack -G DEB` in a static build dir.
install(FILES ${CMAKE_CURRENT_LIST_DIR}/picketd.service DESTINATION /lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/config/picketd.example.json DESTINATION /etc/picketd
        RENAME picketd.json)

set(CPACK_PACKAGE_NAME picketd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "picket maintainers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)  # static; dpkg-shlibdeps cannot read foreign ELF either
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS ca-certificates)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "picket edge sensor daemon")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Captures traffic with libpcap into crash-safe pcap chunks, keeps them in a local SQLite buffer and uploads them to a picket collector.")
# Cross builds must name the target architecture; the default is the build host's.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
else()
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
endif()
file(WRITE ${CMAKE_BINARY_DIR}/deb-extra/conffiles "/etc/picketd/picketd.json\n")
# The unit runs picketd as the system user picketd (also security.user's default).
file(WRITE ${CMAKE_BINARY_DIR}/deb-extra/postinst [=[#!/bin/sh
set -e
if [ "$1" = configure ] && ! getent passwd picketd >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
          --shell /usr/sbin/nologin --comment "picket edge daemon" picketd
fi
]=])
file(CHMOD ${CMAKE_BINARY_DIR}/deb-extra/postinst PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
     GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/deb-extra/conffiles ${CMAKE_BINARY_DIR}/deb-extra/postinst)
include(CPack)
