#!/usr/bin/env bash
# GRPO with TRL's GRPOTrainer and sqlrl's rewards (README.md beside this file).
#
#   SPIDER=/data/spider bash examples/trl/run.sh [more grpo.py flags...]
#
# 1. `sqlrl prepare --format trl` writes Spider train (train_spider.json + train_others.json) with the
#    think template, every prompt checked against 4096 tokens of the model's tokenizer.
# 2. `sqlrl serve --reward arctic` scores completions, unless $SQLRL_URL points at a running one.
# 3. grpo.py trains with grpo.yaml (flags override it), under `accelerate launch` when accelerate is installed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
: "${SPIDER:?set SPIDER to the Spider folder (train_spider.json, database/)}"
MODEL=${MODEL:-Qwen/Qwen2.5-Coder-7B-Instruct}
TOKENIZER=${TOKENIZER:-hf:$MODEL}       # the model's tokenizer, to count prompt tokens (a local folder works too)
PYTHON=${PYTHON:-python3}               # PYTHON=echo prints the training command instead of running it
DATA=${DATA:-$ROOT/data/trl}
REWARD=${REWARD:-arctic}
if [ -n "${SQLRL:-}" ]; then read -r -a SQLRL_CMD <<<"$SQLRL"
elif command -v sqlrl >/dev/null; then SQLRL_CMD=(sqlrl)
else SQLRL_CMD=(node "$ROOT/bin/sqlrl.js"); fi
sqlrl() { "${SQLRL_CMD[@]}" "$@"; }

[ -f "$DATA/train.jsonl" ] || sqlrl prepare --dataset spider --data-dir "$SPIDER" --split train --template think --format trl \
  --tokenizer "$TOKENIZER" --max-prompt-length 4096 --output "$DATA"

if [ -z "${SQLRL_URL:-}" ]; then
  export SQLRL_TOKEN=${SQLRL_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}   # the adapter reads it too
  export SQLRL_URL=http://127.0.0.1:${SQLRL_PORT:-8000}
  sqlrl serve --dataset spider --data-dir "$SPIDER" --split train --reward "$REWARD" --host 127.0.0.1 --port "${SQLRL_PORT:-8000}" &
  SERVE_PID=$!
  trap 'kill "$SERVE_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do curl -sf "$SQLRL_URL/health" >/dev/null && break; sleep 1; done
  curl -sf "$SQLRL_URL/health" >/dev/null || { echo "sqlrl serve did not come up on $SQLRL_URL" >&2; exit 1; }
fi

LAUNCH=("$PYTHON")
[ "$PYTHON" = python3 ] && command -v accelerate >/dev/null && LAUNCH=(accelerate launch)
"${LAUNCH[@]}" "$HERE/grpo.py" --config "$HERE/grpo.yaml" \
  --model_name_or_path "$MODEL" --train_file "$DATA/train.jsonl" --sqlrl_url "$SQLRL_URL" "$@"
