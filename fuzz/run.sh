#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600) and prints each
# target's executions per second and corpus size.
#   bash fuzz/run.sh 600            # all targets
#   bash fuzz/run.sh 60 rtmp_chunk  # one target
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  if [ -d "seeds/$t" ]; then cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true; fi
  echo "== $t: ${secs}s"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 \
    | grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb|SUMMARY|ERROR|Done" || true
  echo "corpus files: $(ls "corpus/$t" | wc -l)"
done
