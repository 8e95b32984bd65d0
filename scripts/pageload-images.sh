#!/usr/bin/env bash
# Regenerate the waterfall pictures in docs/img/ (README "Page loads", scripts/lab/README.md).
# Every one is a simulated run (virtual time, no root, no TUN): the same file every time.
#
#   scripts/pageload-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."
pl() { node --import tsx src/cli.ts pageload "$@" >/dev/null; }
pl http://10.0.0.2/ --objects 6 --object-size 20000 --compare serial,parallel:4,persistent,pipelined --sim delay=25ms,rate=10mbit --svg docs/img/pageload-compare.svg
pl http://10.0.0.2/ --objects 5 --object-size 2000 --compare serial,persistent --sim delay=25ms,rate=100mbit --svg docs/img/lab03-serial-persistent.svg
pl http://10.0.0.2/ --objects 6 --object-size 2000 --compare persistent,parallel:6 --sim delay=20ms,rate=100mbit --svg docs/img/lab04-latency.svg
pl http://10.0.0.2/ --objects 6 --object-size 50000 --compare persistent,parallel:6 --sim delay=20ms,rate=2mbit --svg docs/img/lab04-bandwidth.svg
pl http://10.0.0.2/echo --paths /delay/500,/delay/300 --mode pipelined --sim delay=20ms --svg docs/img/lab05-head-of-line.svg
pl http://10.0.0.2/echo --paths '/echo?n=1,POST:/echo,/echo?n=3,/echo?n=4' --mode pipelined --sim delay=20ms --svg docs/img/lab05-post.svg
echo "docs/img: pageload-compare.svg lab03-serial-persistent.svg lab04-latency.svg lab04-bandwidth.svg lab05-head-of-line.svg lab05-post.svg"
