#!/usr/bin/env bash
# What `make test` runs once scripts/infra.sh is up: go vet, the web app's
# component tests, every Go test on components/local, the end-to-end suite
# again on components/aws (moto), then one summary of both go test runs that
# names every skipped test and why (cmd/testreport). Every step runs even if
# one before it failed, so the summary is always printed; the exit status is
# the worst. With CI=true a skipped required suite (the AWS profile, the
# browser test) fails the run.
#
# GOTESTFLAGS adds flags to both go test runs, e.g. GOTESTFLAGS='-run TestPipeline';
# GOTESTPKGS replaces ./... in the first (the second is ./e2e).
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
record=.run/test-report.jsonl
mkdir -p .run bin
rm -f "$record"
status=0
step() { printf 'test: %s\n' "$*"; }

step "go vet"
$GO vet ./... || status=1

step "web component tests (vitest)"
(cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm test --silent) || status=1

$GO build -o bin/testreport ./cmd/testreport || exit 1
# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
gotest() { # run-name, then go test arguments
  local run=$1; shift
  $GO test -json -race -shuffle=on -count=1 -timeout 20m ${GOTESTFLAGS:-} "$@" 2>&1 |
    bin/testreport -run "$run" -record "$record" || status=1
}
step "go test -race -shuffle=on ./...   (end-to-end on components/local)"
# shellcheck disable=SC2086 # GOTESTPKGS is a list of packages
gotest local ${GOTESTPKGS:-./...}
step "the end-to-end suite again on components/aws (SNS/SQS, DynamoDB, S3 on the moto emulator)"
E2E_PROFILE=aws gotest aws ./e2e

bin/testreport -summary "$record" || status=1
exit $status
