#!/usr/bin/env bash
# make fuzz: builds Fuzz/ with libFuzzer and AddressSanitizer, then runs each parser target for
# FUZZ_SECONDS (default 60), starting from the seeds in Tests/FuzzRegressionTests/Corpus.
# A crash, trap, leak or hang is written to .build-fuzz/crashes/ and makes this script fail;
# copy such an input into the target's corpus folder so that make test replays it for ever.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
build=.build-fuzz
(cd Fuzz && swift build --scratch-path "../$build" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library) \
    2>&1 | grep -v "Cannot export local symbol" || true
binary="$build/debug/pgbk-fuzz"
[ -x "$binary" ] || { echo "fuzz: build failed" >&2; exit 1; }

targets="${FUZZ_TARGETS:-$(ls Tests/FuzzRegressionTests/Corpus)}"
failed=0
printf '%-18s %12s %8s %s\n' target executions seconds result
for target in $targets; do
    work="$build/corpus/$target"
    mkdir -p "$work" "$build/crashes"
    cp -n Tests/FuzzRegressionTests/Corpus/"$target"/* "$work"/ 2>/dev/null || true
    log="$build/$target.log"
    PGBK_FUZZ_TARGET="$target" "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$build/crashes/$target-" -print_final_stats=1 "$work" > "$log" 2>&1
    status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    if [ $status -eq 0 ]; then result=ok; else result="FAILED (exit $status, see $log)"; failed=1; fi
    printf '%-18s %12s %8s %s\n' "$target" "${runs:-?}" "$seconds" "$result"
done
if [ $failed -ne 0 ]; then
    echo "fuzz: inputs that failed are in $build/crashes/" >&2
    exit 1
fi
echo "fuzz: no crash, trap or hang found"
