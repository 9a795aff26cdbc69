#!/bin/sh
# make fuzz-test: build the P2M/PoD API fuzzer with clang (libFuzzer, ASan,
# UBSan, P2M_DEBUG), replay every regression and corpus input, then fuzz
# for FUZZ_TIME seconds (default 120) from the corpus.  Prints
# "fuzz: N executions in S s"; fails on any crash or oracle failure.
#   FUZZ_TIME=s  FUZZ_JOBS=n (parallel fuzzing jobs, default 1)
#   FUZZ_KNOWN="6 F1" (the known-open findings; default tests/fuzz/known-open)
set -eu
cd "$(dirname "$0")/../.."
O=build/fuzz
CLANG=${CLANG:-clang-14}
FUZZ_TIME=${FUZZ_TIME:-120}
FUZZ_JOBS=${FUZZ_JOBS:-1}
F=tests/fuzz

rt_ok() {
    command -v "$CLANG" >/dev/null 2>&1 &&
        [ -e "$($CLANG -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ]
}
if ! rt_ok && [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q clang-14 libclang-rt-14-dev >/dev/null 2>&1 || {
        apt-get update -q >/dev/null &&
            apt-get install -y -q clang-14 libclang-rt-14-dev >/dev/null; }
fi
rt_ok || { echo "fuzz: $CLANG with libFuzzer is needed" \
                "(apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
# Edge counters only: comparison tracing (trace-cmp) of the zero-check
# loops took half of the time and the input format has no magic values.
COV="-fsanitize-coverage=inline-8bit-counters,pc-table"
# The Makefile does not track flags: a change of them rebuilds the library.
if [ "$(cat $O/clang/flags 2>/dev/null)" != "$CLANG $COV $SAN" ]; then
    rm -rf $O/clang
    mkdir -p $O/clang
    echo "$CLANG $COV $SAN" > $O/clang/flags
fi
make -s O=$O/clang CC="$CLANG" DBGFLAGS="-DP2M_DEBUG -O1 -g" \
    SANFLAGS="$COV $SAN" $O/clang/libp2m.a
$CLANG -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -DP2M_DEBUG \
    -O1 -g $COV $SAN -Ixen/include -Ixen/arch/x86/hosted \
    -fno-strict-aliasing -pthread -c $F/harness.c -o $O/harness.o
$CLANG -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -DP2M_DEBUG \
    -O1 -g $COV $SAN -Ixen/include -Ixen/arch/x86/hosted \
    -fno-strict-aliasing -pthread -c $F/model.c -o $O/model.o
$CLANG -std=gnu11 -O1 -g -fsanitize=fuzzer $SAN -Ixen/include -pthread \
    $F/fuzz_main.c $O/harness.o $O/model.o $O/clang/libp2m.a -o $O/p2m_fuzz

# FUZZ_KNOWN overrides the list (FUZZ_KNOWN= replays every regression).
known=${FUZZ_KNOWN-$(sed 's/#.*//' $F/known-open | tr -s ' \n\t' ' ')}
opts="-rss_limit_mb=4096 -timeout=30 -max_len=1024"
log=$O/replay.log
: > $log
echo "fuzz: replaying $F/regressions (known open, skipped: ${known:-none})"
n=0
for f in $F/regressions/*; do
    [ -f "$f" ] || continue
    tag=$(basename "$f" | sed -n 's/^\([0-9Ff][0-9]*\)-.*/\1/p')
    if [ -n "$tag" ] && echo " $known " | grep -qi " $tag "; then
        echo "  skip $f (finding $tag open)"
        continue
    fi
    if ! FUZZ_AVOID= $O/p2m_fuzz $opts "$f" >>$log 2>&1; then
        tail -30 $log
        echo "fuzz: regression $f FAILED (FUZZ_TRACE=1 $O/p2m_fuzz $f)"
        exit 1
    fi
    n=$((n + 1))
done
echo "  $n passed"
c=$(ls $F/corpus | wc -l)
if [ "$c" -gt 0 ] && ! FUZZ_AVOID="$known" $O/p2m_fuzz $opts $F/corpus/* \
        >>$log 2>&1; then
    tail -30 $log
    echo "fuzz: a corpus input FAILED (see $log)"
    exit 1
fi
echo "fuzz: $c corpus inputs passed"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p $O/crashes
start=$(date +%s)
set +e
FUZZ_AVOID="$known" $O/p2m_fuzz $opts -max_total_time="$FUZZ_TIME" \
    -print_final_stats=1 -artifact_prefix=$O/crashes/ \
    $( [ "$FUZZ_JOBS" -gt 1 ] && echo "-fork=$FUZZ_JOBS -ignore_crashes=0" ) \
    "$work" $F/corpus > $O/fuzz.log 2>&1
rc=$?
set -e
secs=$(( $(date +%s) - start ))
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' $O/fuzz.log | tail -1)
if [ -z "$execs" ]; then
    execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' $O/fuzz.log | tail -1)
fi
echo "fuzz: ${execs:-0} executions in $secs s ($(ls "$work" | wc -l) new inputs)"
if [ $rc -ne 0 ]; then
    grep -m1 -A3 "FUZZ ORACLE\|ERROR: \|PANIC\|deadly signal" $O/fuzz.log || true
    tail -5 $O/fuzz.log
    echo "fuzz: FAILED; the input is in $O/crashes/ (replay it with" \
         "FUZZ_TRACE=1 $O/p2m_fuzz <file>)"
    exit 1
fi
