#!/usr/bin/env bash
# The man pages say what --help says: every command of `picketd --help` and `picket --help`
# has an entry in picketd(8) / picket(1), and every --flag of `picketd <command> --help` is in
# picketd(8). Also renders both pages with man's warnings on (groff errors fail the test).
#   usage: tests/packaging/man_sync_test.sh BIN_DIR SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
fail=0
commands_of() {  # the words indented under "commands:" in a top-level --help
  "$1" --help | awk '/^commands:/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}'
}
check_page() {  # check_page PAGE BINARY WITH_FLAGS
  local page=$1 binary=$2 with_flags=$3 text
  text=$(MANWIDTH=200 man --warnings -l "$page" 2>/tmp/man_sync.$$ | col -b)
  if [ -s /tmp/man_sync.$$ ]; then echo "FAIL $page: groff warnings:"; cat /tmp/man_sync.$$; fail=1; fi
  rm -f /tmp/man_sync.$$
  local cmds; cmds=$(commands_of "$binary")
  [ -n "$cmds" ] || { echo "FAIL: no commands parsed from $binary --help"; fail=1; }
  for c in $cmds; do
    grep -qE "^ {7}$c( |$)" <<<"$text" || { echo "FAIL $page: command '$c' has no entry"; fail=1; }
    [ "$with_flags" = yes ] || continue
    [ "$c" = worker ] && continue   # internal: started by run, never by hand
    for f in $("$binary" "$c" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
      grep -qe "$f" <<<"$text" || { echo "FAIL $page: '$c $f' is in --help, not in the page"; fail=1; }
    done
  done
}
check_page "$src/packaging/man/picketd.8" "$bin/picketd" yes
check_page "$src/packaging/man/picket.1" "$bin/picket" no
[ "$fail" -eq 0 ] && echo "man pages match --help"
exit "$fail"
