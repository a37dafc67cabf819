#!/usr/bin/env bash
# Every check and test, on a fresh machine: formatting, lints, unit and API tests
# on the embedded store, the same API tests on DynamoDB and SES (moto's server,
# installed from PyPI, started on free local ports and stopped at the end), and
# `sam validate --lint` on template.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

venv="${PORTAL_TEST_VENV:-$root/target/test-venv}"
pids=()
cleanup() {
  for pid in "${pids[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "system packages (pdftotext for the document tests)"
if ! command -v pdftotext >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq poppler-utils >/dev/null
fi
echo "pdftotext: $(command -v pdftotext)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests on the embedded store"
cargo test --workspace --quiet

step "test tools (moto server, SAM CLI) in $venv"
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/sam" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6' 'aws-sam-cli>=1.100'
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_moto() { # port logfile
  # One request at a time: moto's threaded server breaks transactions under concurrency (see the script).
  "$venv/bin/python" "$root/infra/moto_serial.py" 127.0.0.1 "$1" >"$2" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$1/moto-api/')" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "moto did not start on port $1; its log:" >&2
  cat "$2" >&2
  return 1
}

step "moto servers for DynamoDB and SES"
dynamo_port=$(free_port)
start_moto "$dynamo_port" "$root/target/moto-dynamodb.log"
ses_port=$(free_port)
start_moto "$ses_port" "$root/target/moto-ses.log"
echo "DynamoDB on $dynamo_port, SES on $ses_port"

step "API tests on DynamoDB and SES"
PORTAL_TEST_STORE=dynamodb \
PORTAL_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$dynamo_port" \
PORTAL_TEST_SES_ENDPOINT="http://127.0.0.1:$ses_port" \
  cargo test -p portal-tests --quiet

step "sam validate --lint"
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  "$venv/bin/sam" validate --lint --template "$root/template.yaml"

step "all checks passed"
