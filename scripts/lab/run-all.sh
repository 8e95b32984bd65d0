#!/usr/bin/env bash
# Run every lab in turn and summarise: for a teacher preparing a session, or after changing the stack.
#
#   sudo scripts/lab/run-all.sh            # all labs
#   sudo scripts/lab/run-all.sh 01 05      # only these
#
# Each lab's full output goes to /tmp/tunstack-lab-all/NN.txt (each lab also keeps its own files in
# /tmp/tunstack-lab-NN/). Exit status 0 only if every lab finished and every check said OK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=/tmp/tunstack-lab-all
[[ $(id -u) -eq 0 ]] || { echo "run as root: sudo $0" >&2; exit 1; }
mkdir -p "$out"

labs=()
if [[ $# -eq 0 ]]; then
  for f in "$here"/[0-9][0-9]-*.sh; do labs+=("$f"); done
else
  for n in "$@"; do
    f=$(compgen -G "$here/$n-*.sh" | head -n 1) || true
    [[ -n "$f" ]] || { echo "no lab $n in $here" >&2; exit 2; }
    labs+=("$f")
  done
fi

failed=0
printf '%-18s %6s %4s %11s %8s\n' lab status OK UNEXPECTED seconds
for f in "${labs[@]}"; do
  name=$(basename "$f" .sh)
  log="$out/${name%%-*}.txt"
  start=$(date +%s)
  set +e
  timeout --kill-after=10 300 "$f" >"$log" 2>&1
  status=$?
  set -e
  oks=$(grep -c '^OK' "$log" || true)
  surprises=$(grep -c '^UNEXPECTED' "$log" || true)
  printf '%-18s %6s %4s %11s %8s\n' "$name" "$status" "$oks" "$surprises" "$(($(date +%s) - start))"
  if [[ $status -ne 0 || $surprises -ne 0 ]]; then failed=1; fi
done
echo "full output: $out/"
exit "$failed"
