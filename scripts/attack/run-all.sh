#!/usr/bin/env bash
# Run the five attacks of issue 10 in turn and summarise (about 7 minutes; 15 at most, enforced).
#
#   sudo scripts/attack/run-all.sh            # all five (npm run attack)
#   sudo scripts/attack/run-all.sh 01 03      # only these
#
# Each attack's full output goes to /tmp/tunstack-attack-all/NN.txt (each also keeps its files in
# /tmp/tunstack-attack-NN-*/). Each is limited to 300 s and all of them to 900 s (SIGTERM at the limit:
# the attack cleans up; KILL 15 s later); an attack that would have less than 30 s left is skipped.
# TUNSTACK_TREE, TUNSTACK_SERVE_ARGS, NODE and PYTHON are passed on (see lib.sh).
# Exit status 0 only if every attack ran to its end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=/tmp/tunstack-attack-all
[[ $(id -u) -eq 0 ]] || { echo "run as root: sudo $0" >&2; exit 1; }

attacks=()
if [[ $# -eq 0 ]]; then
  for f in "$here"/0[1-5]-*.sh; do attacks+=("$f"); done
else
  for n in "$@"; do
    case "$n" in -h | --help) sed -n '4,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
    [[ "$n" =~ ^0[1-5]$ ]] || { echo "run-all.sh: no attack '$n' (01..05)" >&2; exit 2; }
    f=$(compgen -G "$here/$n-*.sh" | head -n 1) || true
    [[ -n "$f" ]] || { echo "run-all.sh: no attack $n in $here" >&2; exit 2; }
    attacks+=("$f")
  done
fi
rm -rf -- "$out"
mkdir -p -- "$out"

child=0
trap '[[ $child -ne 0 ]] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 130' INT TERM

failed=0
summaries=()
budget_end=$(($(date +%s) + 900))
printf '%-16s %6s %8s\n' attack status seconds
for f in "${attacks[@]}"; do
  name=$(basename "$f" .sh)
  log="$out/${name%%-*}.txt"
  start=$(date +%s)
  limit=$((budget_end - start))
  ((limit <= 300)) || limit=300
  if ((limit < 30)); then
    printf '%-16s %6s %8s\n' "$name" skipped 0
    summaries+=("$name: skipped (the 900 s budget is used up)")
    failed=1
    continue
  fi
  set +e
  timeout --kill-after=15 "$limit" "$f" >"$log" 2>&1 &
  child=$!
  wait "$child"
  status=$?
  child=0
  set -e
  printf '%-16s %6s %8s\n' "$name" "$status" "$(($(date +%s) - start))"
  [[ $status -eq 0 ]] || failed=1
  summaries+=("$(grep '^ATTACK-SUMMARY' "$log" | sed 's/^ATTACK-SUMMARY //' || echo "$name: no summary (status $status)")")
done
echo
echo "summary:"
printf '  %s\n' "${summaries[@]}"
echo "full output: $out/"
exit "$failed"
