# `cmake --build <dir> --target deb`: this build's .deb via packaging/build-debs.sh (dpkg-deb,
# maintainer scripts, copyright, man page), into <dir>/debs. A static build packages picketd
# (its architecture read from the binary); a build with the central binary packages picket.
if(PICKET_STATIC)
  set(_picket_deb_args --picketd $<TARGET_FILE:picketd> --no-picket)
  set(_picket_deb_deps picketd)
elseif(PICKET_BUILD_CENTRAL)
  set(_picket_deb_args --no-picketd --picket $<TARGET_FILE:picket>)
  set(_picket_deb_deps picket)
endif()
if(DEFINED _picket_deb_args)
  add_custom_target(deb
    COMMAND ${PROJECT_SOURCE_DIR}/packaging/build-debs.sh ${_picket_deb_args} --out ${CMAKE_BINARY_DIR}/debs
    DEPENDS ${_picket_deb_deps}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "Building the .deb (packaging/build-debs.sh)"
    VERBATIM)
endif()
