#!/usr/bin/env bash
# SQL-R1's GRPO under verl 0.9.1 with sqlrl's data and rewards (README.md beside this file).
#
#   SYNSQL=/data/SynSQL-2.5M bash examples/verl/sql-r1/run.sh [more Hydra overrides...]
#
# 1. `sqlrl prepare` writes SQL-R1's data as verl parquet: 4000 training and 1000 validation examples of
#    SynSQL-2.5M's "Highly Complex" questions (SQL-R1's preprocessing default), think template, every
#    prompt checked against 4096 tokens of the model's tokenizer (never cut).
# 2. `sqlrl serve --reward sql-r1` scores completions, unless $SQLRL_URL points at a running one.
# 3. verl trains with config.yaml; the adapter is verl's custom reward function.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
: "${SYNSQL:?set SYNSQL to the SynSQL-2.5M folder (data.json and databases/)}"
MODEL=${MODEL:-Qwen/Qwen2.5-Coder-7B-Instruct}
TOKENIZER=${TOKENIZER:-hf:$MODEL}       # the model's tokenizer, to count prompt tokens (a local folder works too)
PYTHON=${PYTHON:-python3}               # PYTHON=echo prints the training command instead of running it
DATA=${DATA:-$ROOT/data/sql-r1}
if [ -n "${SQLRL:-}" ]; then read -r -a SQLRL_CMD <<<"$SQLRL"
elif command -v sqlrl >/dev/null; then SQLRL_CMD=(sqlrl)
else SQLRL_CMD=(node "$ROOT/bin/sqlrl.js"); fi
sqlrl() { "${SQLRL_CMD[@]}" "$@"; }

common=(--dataset synsql --data-dir "$SYNSQL" --difficulty "Highly Complex" --template think --format verl
        --tokenizer "$TOKENIZER" --max-prompt-length 4096 --timeout 30)
[ -f "$DATA/train/train.parquet" ] || sqlrl prepare "${common[@]}" --split train --limit "${TRAIN_SIZE:-4000}" --output "$DATA/train"
[ -f "$DATA/dev/dev.parquet" ] || sqlrl prepare "${common[@]}" --split dev --offset "${TRAIN_SIZE:-4000}" --limit "${DEV_SIZE:-1000}" --output "$DATA/dev"

if [ -z "${SQLRL_URL:-}" ]; then
  # A token for this run only (verl prints its resolved config, reward_kwargs included).
  export SQLRL_TOKEN=${SQLRL_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
  export SQLRL_URL=http://127.0.0.1:${SQLRL_PORT:-8000}
  # Rows carry {"db_id", "gold_sql"}: the server needs only the databases. 30 s per query, as SQL-R1.
  sqlrl serve --db-dir "$SYNSQL/databases" --reward sql-r1 --host 127.0.0.1 --port "${SQLRL_PORT:-8000}" --timeout 30 &
  SERVE_PID=$!
  trap 'kill "$SERVE_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do curl -sf "$SQLRL_URL/health" >/dev/null && break; sleep 1; done
  curl -sf "$SQLRL_URL/health" >/dev/null || { echo "sqlrl serve did not come up on $SQLRL_URL" >&2; exit 1; }
fi

"$PYTHON" -m verl.trainer.main_ppo --config-path "$HERE" --config-name config \
  data.train_files="$DATA/train/train.parquet" data.val_files="$DATA/dev/dev.parquet" \
  actor_rollout_ref.model.path="$MODEL" \
  reward.custom_reward_function.path="$ROOT/integrations/python/sqlrl_rewards.py" \
  "$@"
