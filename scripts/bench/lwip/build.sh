#!/usr/bin/env bash
# build.sh — compile lwip-httpd (main.c, tunif.c, httpd.c, tw-reopen.c) against Debian's liblwip-dev.
#
#   scripts/bench/lwip/build.sh [OUT_DIR]     (default /tmp/tunstack-lwip-build)
#
# Prints the binary's path on stdout. Exits 3 with a note when liblwip-dev is not installed
# (apt-get install liblwip-dev), 1 when the compiler fails. Nothing is written into the repository.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-/tmp/tunstack-lwip-build}
if ! pkg-config --exists lwip 2>/dev/null && [[ ! -f /usr/include/lwip/lwipopts.h ]]; then
  echo "build.sh: liblwip-dev is not installed (apt-get install liblwip-dev)" >&2
  exit 3
fi
cflags=$(pkg-config --cflags lwip 2>/dev/null || echo -I/usr/include/lwip)
libs=$(pkg-config --libs lwip 2>/dev/null || echo -llwip)
mkdir -p -- "$out"
bin="$out/lwip-httpd"
# Rebuild only when a source is newer than the binary.
if [[ ! -x "$bin" || -n $(find "$here" -name '*.[ch]' -newer "$bin" -print -quit) ]]; then
  # shellcheck disable=SC2086
  ${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -o "$bin.tmp" "$here/main.c" "$here/tunif.c" "$here/httpd.c" "$here/tw-reopen.c" $cflags $libs -lpthread
  mv -f -- "$bin.tmp" "$bin"
fi
echo "$bin"
