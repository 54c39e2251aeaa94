#!/bin/bash
# What `npm test` runs, one stage at a time, each announced and timed: packages, sysbox, engine, images, lint,
# typecheck, build, unit tests, integration tests.
# - DOCKER_HOST set: that engine is used as it is (it needs the runtime sysbox-runc; images are built into it);
#   nothing is started or stopped.
# - Otherwise the private test engine (scripts/engine.sh): started if needed, and stopped again at the end
#   only if this script started it.
# Every check runs even if one before it failed. The summary lists the stage times and the skipped tests (whose
# names say why), then "CVM runtime: ..." and, last, one plain line: "N passed, N failed, N skipped" (vitest
# tests, plus lint, typecheck and build as one check each).
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root" || exit 1
reports=(.cache/vitest-unit.json .cache/vitest-integration.json)
started_engine=false
stage_times=()

say() { echo "test.sh: $*"; }

stop_engine_if_started() {
  if [[ $started_engine == true ]]; then
    scripts/engine.sh stop
    started_engine=false
  fi
}
trap stop_engine_if_started EXIT
trap 'exit 130' INT TERM

# stage NAME COMMAND...: runs the command between a start line and an end line with its outcome and duration.
stage() {
  local name=$1 started=$EPOCHREALTIME status=0 seconds
  shift
  say "── $name …"
  "$@" || status=$?
  seconds=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  stage_times+=("$name ${seconds} s")
  if ((status == 0)); then say "── $name: ok (${seconds} s)"; else say "── $name: FAILED (${seconds} s)"; fi
  return "$status"
}

check_given_engine() {
  say "using the engine at DOCKER_HOST=$DOCKER_HOST as it is"
  docker info >/dev/null || { say "no engine answers at $DOCKER_HOST"; return 1; }
  if ! docker info --format '{{json .Runtimes}}' | grep -q '"sysbox-runc"'; then
    say "the engine at $DOCKER_HOST has no runtime sysbox-runc: register sysbox, or the test-only shim" \
      "(dockerd --add-runtime sysbox-runc=$repo_root/test/runtime/sysbox-runc-shim), or unset DOCKER_HOST"
    return 1
  fi
}

start_private_engine() {
  if scripts/engine.sh status >/dev/null; then
    say "the private test engine already runs; it is left running"
  else
    scripts/engine.sh start || return 1
    started_engine=true
  fi
}

prepare_engine() {
  stage packages scripts/engine.sh packages || return 1
  if [[ -n ${DOCKER_HOST:-} ]]; then
    stage engine check_given_engine || return 1
  else
    stage sysbox scripts/engine.sh sysbox || return 1
    stage engine start_private_engine || return 1
    export DOCKER_HOST=unix:///run/cvm-supervisor-test/docker.sock
  fi
  stage images scripts/build-test-images.sh
}

checks_passed=0
checks_failed=0
count_check() { if "$@"; then checks_passed=$((checks_passed + 1)); else checks_failed=$((checks_failed + 1)); fi; }

engine_ready=true
prepare_engine || engine_ready=false

count_check stage lint npm run --silent lint
count_check stage typecheck npm run --silent typecheck

mkdir -p .cache
rm -f "${reports[@]}" .cache/cvm-runtime.txt
vitest_failed=false
run_vitest() { npx vitest run "$1" --reporter=default --reporter=json --outputFile.json="$2" "${@:3}"; }
if stage build npm run --silent build; then
  checks_passed=$((checks_passed + 1))
  # The tests' globalSetup (test/support/build.ts) need not build dist/ again for each of the two runs.
  export CVM_TEST_DIST_BUILT=1
else
  checks_failed=$((checks_failed + 1))
fi
# The unit run reports line coverage and fails below a folder's floor (vitest.config.ts).
stage unit run_vitest test/unit "${reports[0]}" --coverage || vitest_failed=true
if [[ $engine_ready == true ]]; then
  stage integration run_vitest test/integration "${reports[1]}" || vitest_failed=true
else
  say "the engine is not ready: the integration tests do not run, which counts as a failure"
  checks_failed=$((checks_failed + 1))
  rm -f "${reports[1]}"
  reports=("${reports[0]}")
fi

stop_engine_if_started

# From the vitest reports: "passed failed skipped", then the skipped tests' names. A run that wrote no report
# counts as one failure.
summary=$(
  node -e '
    const fs = require("node:fs");
    let passed = 0, failed = 0, skipped = 0;
    const names = [];
    for (const file of process.argv.slice(1)) {
      let report;
      try { report = JSON.parse(fs.readFileSync(file, "utf8")); } catch { failed += 1; continue; }
      passed += report.numPassedTests;
      failed += report.numFailedTests;
      skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
      for (const result of report.testResults) {
        const path = result.name.slice(process.cwd().length + 1);
        for (const test of result.assertionResults) {
          if (["skipped", "pending", "todo"].includes(test.status)) names.push(`  ${path}: ${test.fullName}`);
        }
      }
    }
    console.log(passed, failed, skipped);
    for (const name of names) console.log(name);
  ' "${reports[@]}"
)
read -r tests_passed tests_failed tests_skipped <<<"$(head -n 1 <<<"$summary")"
# vitest can fail outside any test (an unhandled error, a file that does not load): count that too.
if [[ $vitest_failed == true ]] && ((tests_failed == 0)); then tests_failed=1; fi

echo
say "stages: $(IFS=,; echo "${stage_times[*]}" | sed 's/,/, /g')"
if ((tests_skipped > 0)); then
  say "skipped tests ($tests_skipped; each name says why):"
  tail -n +2 <<<"$summary"
fi
# Which runtime the CVM tests ran on (written by the tests' globalSetup, test/support/build.ts).
echo "CVM runtime: $(cat .cache/cvm-runtime.txt 2>/dev/null || echo 'unknown (the tests did not start)')"
echo "$((tests_passed + checks_passed)) passed, $((tests_failed + checks_failed)) failed, $tests_skipped skipped"
((tests_failed + checks_failed == 0))
