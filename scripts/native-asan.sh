#!/usr/bin/env bash
# Runs the native addon's tests and fuzz targets with the addon built under AddressSanitizer (and
# UndefinedBehaviorSanitizer), then rebuilds the normal addon. Needs gcc's libasan; Node itself is
# not instrumented, so ASan watches the addon's own reads and writes: every buffer it is handed,
# the receive slots, the descriptor table, the iovecs and control messages.
#   bash scripts/native-asan.sh            # the tests, then 30 s of each native fuzz target
set -euo pipefail
cd "$(dirname "$0")/.."
LIBASAN=$(gcc -print-file-name=libasan.so)
[ -e "$LIBASAN" ] || { echo "no libasan for gcc ($LIBASAN)"; exit 1; }
NODEDIR=$(dirname "$(dirname "$(command -v node)")")
NODE_GYP=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js
rebuild() { CFLAGS="$1" LDFLAGS="$2" node "$NODE_GYP" rebuild --nodedir="$NODEDIR" >/dev/null 2>&1; }
trap 'rebuild "" ""; echo "rebuilt the normal addon"' EXIT
rebuild "-fsanitize=address,undefined -fno-omit-frame-pointer -g -O1" "-fsanitize=address,undefined"
npx tsc -p tsconfig.json
export LD_PRELOAD="$LIBASAN" ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export BITTRRT_IO=native
npx mocha --no-config --timeout 120000 dist/test/net/native-io.test.js dist/test/transfer/native-path.test.js
node dist/test/fuzz/run.js --target native-arguments --seconds 30 --seed 1
node dist/test/fuzz/run.js --target native-wire --seconds 30 --seed 1
echo "AddressSanitizer: clean"
