#!/usr/bin/env bash
# Arctic-Text2SQL-R1's GRPO settings under verl 0.9.1 with sqlrl's data and rewards (README.md beside this file).
#
#   BIRD=/data/bird SPIDER=/data/spider bash examples/verl/arctic/run.sh [more Hydra overrides...]
#
# BIRD is the folder holding train/ (train.json, train_databases/) and dev/ (dev.json, dev_databases/).
# 1. `sqlrl prepare` writes BIRD train and Spider train (train_spider.json + train_others.json) as verl
#    parquet with the OmniSQL prompt (plain template), leaving out golds that fail, take over 10 s, or
#    return no rows (Arctic filters empty results); BIRD dev for validation.
# 2. `sqlrl serve --reward arctic` scores completions (1 right, 0.1 runs but wrong, 0 otherwise), over one
#    folder that links every database of the three sets, unless $SQLRL_URL points at a running server.
# 3. verl trains with config.yaml; the adapter is verl's custom reward function.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
: "${BIRD:?set BIRD to the BIRD folder (train/, dev/)}"
: "${SPIDER:?set SPIDER to the Spider folder (train_spider.json, database/)}"
MODEL=${MODEL:-Qwen/Qwen2.5-Coder-7B-Instruct}
TOKENIZER=${TOKENIZER:-hf:$MODEL}       # the model's tokenizer, to count prompt tokens (a local folder works too)
PYTHON=${PYTHON:-python3}               # PYTHON=echo prints the training command instead of running it
DATA=${DATA:-$ROOT/data/arctic}
if [ -n "${SQLRL:-}" ]; then read -r -a SQLRL_CMD <<<"$SQLRL"
elif command -v sqlrl >/dev/null; then SQLRL_CMD=(sqlrl)
else SQLRL_CMD=(node "$ROOT/bin/sqlrl.js"); fi
sqlrl() { "${SQLRL_CMD[@]}" "$@"; }

common=(--template plain --format verl --tokenizer "$TOKENIZER" --max-prompt-length 4096 --timeout 10)
[ -f "$DATA/bird/train.parquet" ] || sqlrl prepare --dataset bird --data-dir "$BIRD/train" --split train --drop-empty-gold "${common[@]}" --output "$DATA/bird"
[ -f "$DATA/spider/train.parquet" ] || sqlrl prepare --dataset spider --data-dir "$SPIDER" --split train --drop-empty-gold "${common[@]}" --output "$DATA/spider"
[ -f "$DATA/bird-dev/dev.parquet" ] || sqlrl prepare --dataset bird --data-dir "$BIRD/dev" --split dev "${common[@]}" --output "$DATA/bird-dev"

# One database folder for the server: a link per database of the three sets; a name used twice is an error.
DBS="$DATA/databases"
mkdir -p "$DBS"
for src in "$BIRD/train/train_databases" "$SPIDER/database" "$BIRD/dev/dev_databases"; do
  for db in "$src"/*/; do
    name=$(basename "$db")
    if [ -e "$DBS/$name" ] && [ "$(readlink -f "$DBS/$name")" != "$(readlink -f "$db")" ]; then
      echo "database '$name' is in two sets ($(readlink -f "$DBS/$name") and $db): rename one" >&2; exit 1
    fi
    ln -sfn "$(readlink -f "$db")" "$DBS/$name"
  done
done

if [ -z "${SQLRL_URL:-}" ]; then
  export SQLRL_TOKEN=${SQLRL_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
  export SQLRL_URL=http://127.0.0.1:${SQLRL_PORT:-8000}
  sqlrl serve --db-dir "$DBS" --reward arctic --host 127.0.0.1 --port "${SQLRL_PORT:-8000}" --timeout 10 &
  SERVE_PID=$!
  trap 'kill "$SERVE_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 1 120); do curl -sf "$SQLRL_URL/health" >/dev/null && break; sleep 1; done
  curl -sf "$SQLRL_URL/health" >/dev/null || { echo "sqlrl serve did not come up on $SQLRL_URL" >&2; exit 1; }
fi

"$PYTHON" -m verl.trainer.main_ppo --config-path "$HERE" --config-name config \
  data.train_files="[$DATA/bird/train.parquet,$DATA/spider/train.parquet]" data.val_files="$DATA/bird-dev/dev.parquet" \
  actor_rollout_ref.model.path="$MODEL" \
  reward.custom_reward_function.path="$ROOT/integrations/python/sqlrl_rewards.py" \
  "$@"
