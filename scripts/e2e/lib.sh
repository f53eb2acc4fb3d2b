# Shared by the opt-in end-to-end scripts in this folder (sourced, not run).
# The Python side lives in a venv ($SQLRL_E2E_VENV, default ~/.cache/sqlrl/e2e-trl-venv), made once and
# reused: trl and peft at the versions the recipes are pinned to, and torch. Debian's python3-torch is
# used (venv --system-site-packages) when it is recent enough for trl; otherwise torch comes from PyPI,
# whose Linux wheel pulls its CUDA libraries (about 6 GB installed; it runs on the CPU without a GPU).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${SQLRL_E2E_VENV:-$HOME/.cache/sqlrl/e2e-trl-venv}
TRL_VERSION=1.16.0
PEFT_VERSION=0.21.2
VERL_VERSION=0.9.1
SYS_PY=/usr/bin/python3
[ -x "$SYS_PY" ] || SYS_PY=python3
PY="$VENV/bin/python"

say() { printf '\n== %s\n' "$*"; }

# The venv with torch, trl and peft.
ensure_venv() {
  say "Python venv $VENV (trl $TRL_VERSION, peft $PEFT_VERSION)"
  if ! "$PY" -c "import torch, peft, trl; assert trl.__version__ == '$TRL_VERSION', trl.__version__" 2>/dev/null; then
    if "$SYS_PY" -c 'import sys, torch; sys.exit(0 if tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4) else 1)' 2>/dev/null; then
      echo "using Debian's torch ($("$SYS_PY" -c 'import torch; print(torch.__version__)'))"
      "$SYS_PY" -m venv --system-site-packages "$VENV"
      "$VENV/bin/pip" install -q "trl==$TRL_VERSION" "peft==$PEFT_VERSION"
    else
      echo "the system torch is missing or older than 2.4 (trl $TRL_VERSION needs torch 2): installing torch from PyPI into the venv"
      "$SYS_PY" -m venv "$VENV"
      "$VENV/bin/pip" install -q --upgrade pip
      "$VENV/bin/pip" install -q torch "trl==$TRL_VERSION" "peft==$PEFT_VERSION"
    fi
  fi
  "$PY" -c 'import torch, transformers, trl, peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, peft {peft.__version__}")'
}

# verl's config and reward loading on top of that venv: verl without its GPU dependencies (vLLM, flash-attn),
# plus what importing verl.trainer.ppo.reward needs.
ensure_verl() {
  if ! "$PY" -c "import importlib.metadata as m, hydra, ray, tensordict; assert m.version('verl') == '$VERL_VERSION'" 2>/dev/null; then
    say "adding verl $VERL_VERSION (no GPU dependencies), hydra-core and ray to the venv"
    "$VENV/bin/pip" install -q --no-deps "verl==$VERL_VERSION"
    "$VENV/bin/pip" install -q hydra-core omegaconf ray tensordict aiohttp codetiming orjson
  fi
}

# SQLRL_CMD: $SQLRL if set, else this checkout, built.
build_sqlrl() {
  if [ -n "${SQLRL:-}" ]; then
    read -r -a SQLRL_CMD <<<"$SQLRL"
  else
    say "building sqlrl"
    (cd "$ROOT" && npm run build --silent)
    SQLRL_CMD=(node "$ROOT/bin/sqlrl.js")
  fi
}
sqlrl() { "${SQLRL_CMD[@]}" "$@"; }

# Starts `sqlrl serve ARGS` on a free port; sets URL and SERVE_PID (stopped at exit). LOG names its stderr file.
start_serve() {
  local log=$1; shift
  sqlrl serve --port 0 --workers 2 "$@" 2>"$log" &
  SERVE_PID=$!
  SERVE_PIDS+=("$SERVE_PID")
  trap 'for p in "${SERVE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
  URL=""
  for _ in $(seq 1 150); do
    URL=$(grep -o 'http://[^ ]*' "$log" | head -1 || true)
    [ -n "$URL" ] && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.2
  done
  [ -n "$URL" ] || { echo "sqlrl serve did not start"; cat "$log"; return 1; }
  cat "$log"
}
SERVE_PIDS=()

# sqlrl_rewards_total of the server at $URL (bearer token from $SQLRL_TOKEN).
rewards_total() {
  "$PY" - "$URL" <<'PYEOF'
import os, re, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/metrics", headers={"Authorization": "Bearer " + os.environ.get("SQLRL_TOKEN", "")})
print(re.search(r"^sqlrl_rewards_total (\d+)", urllib.request.urlopen(req).read().decode(), re.M).group(1))
PYEOF
}
