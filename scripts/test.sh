#!/bin/bash
# What `npm test` runs: lint, typecheck and every vitest test (unit and integration) against a Docker engine.
# - DOCKER_HOST set: that engine is used as it is (it needs the runtime sysbox-runc; images are built into it).
# - Otherwise the private test engine (scripts/engine.sh): started if needed, and stopped again at the end
#   only if this script started it.
# Runs all three checks even if one fails, and ends with one plain line: "N passed, N failed, N skipped"
# (vitest tests, plus lint and typecheck as one check each).
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root" || exit 1
vitest_report=.cache/vitest.json
started_engine=false

say() { echo "test.sh: $*" >&2; }

stop_engine_if_started() {
  if [[ $started_engine == true ]]; then
    scripts/engine.sh stop
    started_engine=false
  fi
}
trap stop_engine_if_started EXIT
trap 'exit 130' INT TERM

prepare_engine() {
  if [[ -n ${DOCKER_HOST:-} ]]; then
    say "using the engine at DOCKER_HOST=$DOCKER_HOST"
    docker info >/dev/null || { say "no engine answers at $DOCKER_HOST"; return 1; }
    if ! docker info --format '{{json .Runtimes}}' | grep -q '"sysbox-runc"'; then
      say "the engine at $DOCKER_HOST has no runtime sysbox-runc: register sysbox, or the test-only shim" \
        "(dockerd --add-runtime sysbox-runc=$repo_root/test/runtime/sysbox-runc-shim), or unset DOCKER_HOST"
      return 1
    fi
  else
    if ! scripts/engine.sh status >/dev/null; then
      scripts/engine.sh start || return 1
      started_engine=true
    fi
    export DOCKER_HOST=unix:///run/cvm-supervisor-test/docker.sock
  fi
  scripts/build-test-images.sh
}

engine_ready=true
prepare_engine || engine_ready=false

checks_passed=0
checks_failed=0
if npm run --silent lint; then checks_passed=$((checks_passed + 1)); else checks_failed=$((checks_failed + 1)); fi
if npm run --silent typecheck; then checks_passed=$((checks_passed + 1)); else checks_failed=$((checks_failed + 1)); fi

mkdir -p .cache
rm -f "$vitest_report" .cache/cvm-runtime.txt
vitest_status=0
if [[ $engine_ready == true ]]; then
  npx vitest run --reporter=default --reporter=json --outputFile.json="$vitest_report" || vitest_status=$?
else
  say "the engine is not ready: running the unit tests only, and counting that as a failure"
  checks_failed=$((checks_failed + 1))
  npx vitest run test/unit --reporter=default --reporter=json --outputFile.json="$vitest_report" || vitest_status=$?
fi

stop_engine_if_started

# "passed failed skipped" from the vitest report; a run that wrote no report counts as one failure.
read -r tests_passed tests_failed tests_skipped < <(
  node -e '
    const fs = require("node:fs");
    try {
      const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      console.log(r.numPassedTests, r.numFailedTests, (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0));
    } catch { console.log(0, 1, 0); }
  ' "$vitest_report"
)
# vitest can fail outside any test (an unhandled error, a file that does not load): count that too.
if ((vitest_status != 0 && tests_failed == 0)); then tests_failed=1; fi

# Which runtime the CVM tests ran on (written by the tests' globalSetup, test/support/build.ts).
echo "CVM runtime: $(cat .cache/cvm-runtime.txt 2>/dev/null || echo 'unknown (the tests did not start)')"
echo "$((tests_passed + checks_passed)) passed, $((tests_failed + checks_failed)) failed, $tests_skipped skipped"
((tests_failed + checks_failed == 0))
