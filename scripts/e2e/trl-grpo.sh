#!/usr/bin/env bash
# Opt-in end-to-end check, not part of `npm test`: TRL's GRPOTrainer runs two GRPO steps of the recipe
# examples/trl/grpo.py on a tiny local model, on the file `sqlrl prepare --format trl` writes, with
# rewards from a live `sqlrl serve` through integrations/python's adapter (bearer token on). It checks
# that the server scored every completion the trainer generated.
#
#   bash scripts/e2e/trl-grpo.sh
#
# The Python side lives in a venv ($SQLRL_E2E_VENV, default ~/.cache/sqlrl/e2e-trl-venv), made once
# and reused: trl and peft at the versions the recipe is pinned to, and torch. Debian's python3-torch
# is used (venv --system-site-packages) when it is recent enough for trl; otherwise torch comes from
# PyPI, whose Linux wheel pulls its CUDA libraries (about 6 GB installed; it runs on the CPU without
# a GPU). No model hub is needed: the model and its tokenizer are built here from scratch.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${SQLRL_E2E_VENV:-$HOME/.cache/sqlrl/e2e-trl-venv}
WORK=${SQLRL_E2E_WORK:-$(mktemp -d -t sqlrl-e2e-trl-XXXXXX)}
TRL_VERSION=1.16.0
PEFT_VERSION=0.21.2
SYS_PY=/usr/bin/python3
[ -x "$SYS_PY" ] || SYS_PY=python3
export SQLRL_TOKEN=${SQLRL_TOKEN:-e2e-$$}   # both sqlrl serve and the adapter read it

say() { printf '\n== %s\n' "$*"; }

say "Python venv $VENV (trl $TRL_VERSION, peft $PEFT_VERSION)"
if ! "$VENV/bin/python" -c "import torch, peft, trl; assert trl.__version__ == '$TRL_VERSION', trl.__version__" 2>/dev/null; then
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
PY="$VENV/bin/python"
"$PY" -c 'import torch, transformers, trl, peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, peft {peft.__version__}")'

if [ -n "${SQLRL:-}" ]; then
  read -r -a SQLRL_CMD <<<"$SQLRL"
else
  say "building sqlrl"
  (cd "$ROOT" && npm run build --silent)
  SQLRL_CMD=(node "$ROOT/bin/sqlrl.js")
fi
sqlrl() { "${SQLRL_CMD[@]}" "$@"; }

say "sqlrl prepare --format trl (the bundled sample, think template) -> $WORK/data"
sqlrl prepare --dataset sample --template think --format trl --output "$WORK/data" --force
say "a tiny Qwen2 model with a tokenizer fitted to those prompts -> $WORK/tiny"
"$PY" "$ROOT/scripts/e2e/make_tiny_model.py" "$WORK/data/train.jsonl" "$WORK/tiny"
say "sqlrl prepare again, counting prompt tokens with the tiny model's tokenizer"
sqlrl prepare --dataset sample --template think --format trl --output "$WORK/data" --tokenizer "$WORK/tiny" --max-prompt-length 2048 --force
head -c 400 "$WORK/data/train.jsonl"; echo ' ...'

say "sqlrl serve (arctic reward, bearer token)"
sqlrl serve --dataset sample --reward arctic --port 0 --workers 2 2>"$WORK/serve.log" &
SERVE_PID=$!
trap 'kill "$SERVE_PID" 2>/dev/null || true' EXIT
URL=""
for _ in $(seq 1 100); do
  URL=$(grep -o 'http://[^ ]*' "$WORK/serve.log" | head -1 || true)
  [ -n "$URL" ] && break
  kill -0 "$SERVE_PID" 2>/dev/null || { cat "$WORK/serve.log"; exit 1; }
  sleep 0.2
done
[ -n "$URL" ] || { echo "sqlrl serve did not start"; cat "$WORK/serve.log"; exit 1; }
cat "$WORK/serve.log"

rewards_total() {
  "$PY" - "$URL" <<'EOF'
import os, re, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/metrics", headers={"Authorization": "Bearer " + os.environ["SQLRL_TOKEN"]})
print(re.search(r"^sqlrl_rewards_total (\d+)", urllib.request.urlopen(req).read().decode(), re.M).group(1))
EOF
}
say "the adapter on the TRL file's own columns: the gold answer of every row scores 1 (arctic)"
"$PY" - "$URL" "$WORK/data/train.jsonl" "$ROOT/integrations/python" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[3])
import sqlrl_rewards
rows = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
cols = {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}
right = [[{"role": "assistant", "content": "<think>\n</think>\n<answer>\n```sql\n" + g + "\n```\n</answer>"}] for g in cols["gold_sql"]]
got = sqlrl_rewards.trl_reward_func(sys.argv[1])(prompts=[r["prompt"] for r in rows], completions=right, **cols)
print(f"{len(got)} rows scored, rewards {sorted(set(got))}")
assert got == [1.0] * len(rows), got
EOF
BEFORE=$(rewards_total)

STEPS=2
BATCH=8          # completions per step: 2 prompts x 4 generations
say "TRL GRPOTrainer: examples/trl/grpo.py with examples/trl/grpo.yaml, overridden for a CPU and the tiny model ($STEPS steps x $BATCH completions)"
"$PY" "$ROOT/examples/trl/grpo.py" --config "$ROOT/examples/trl/grpo.yaml" \
  --model_name_or_path "$WORK/tiny" --dtype float32 --train_file "$WORK/data/train.jsonl" --sqlrl_url "$URL" \
  --output_dir "$WORK/run" --max_steps "$STEPS" --per_device_train_batch_size "$BATCH" --gradient_accumulation_steps 1 \
  --num_generations 4 --max_completion_length 32 --learning_rate 1e-4 --lora_r 8 --lora_alpha 16 \
  --bf16 false --gradient_checkpointing false --use_cpu true --save_strategy no --logging_steps 1 --report_to none \
  2>&1 | tr '\r' '\n' | grep -v -E '^\s*$|it/s\]|s/it\]|examples/s\]|FutureWarning|warnings.warn'

AFTER=$(rewards_total)
SCORED=$((AFTER - BEFORE))
say "result"
echo "completions scored by sqlrl serve during training: $SCORED (expected $((STEPS * BATCH)))"
ls "$WORK/run"
if [ "$SCORED" -ne $((STEPS * BATCH)) ]; then echo "FAILED: the server did not score every completion"; exit 1; fi
echo "OK: $STEPS GRPO steps of TRL's GRPOTrainer, every completion scored by sqlrl serve (work folder $WORK)"
