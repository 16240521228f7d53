# Included by the toolchain files in cross/: make sure PICKET_SYSROOT holds the target's libraries.
#
# Runs cross/make-sysroot.sh, which returns at once when the sysroot is complete and otherwise
# downloads the target's -dev packages (a few seconds). It runs here, while the toolchain file is
# first read, because deps.cmake calls find_package(OpenSSL/ZLIB) before anything else could.
# Skipped inside try_compile, which re-reads the toolchain file for every check.
get_property(_picket_in_try_compile GLOBAL PROPERTY IN_TRY_COMPILE)
if(NOT _picket_in_try_compile)
  # PICKET_SYSROOT_REFRESH is for a manual run only: here it would also fire in the
  # ExternalProjects' configure steps, which run in parallel and would swap the sysroot under
  # each other.
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env --unset=PICKET_SYSROOT_REFRESH
            "${CMAKE_CURRENT_LIST_DIR}/make-sysroot.sh" ${PICKET_DEB_ARCH} "${PICKET_SYSROOT}"
    RESULT_VARIABLE _picket_rc OUTPUT_VARIABLE _picket_out ERROR_VARIABLE _picket_out)
  string(STRIP "${_picket_out}" _picket_out)
  if(NOT _picket_rc EQUAL 0)
    message(FATAL_ERROR "cross/make-sysroot.sh ${PICKET_DEB_ARCH} ${PICKET_SYSROOT} failed (${_picket_rc}):\n"
                        "${_picket_out}\nIt needs apt-get and the Debian mirror; see cross/README.md.")
  endif()
  if(NOT _picket_out MATCHES "already holds")
    message(STATUS "${_picket_out}")
  endif()
endif()
