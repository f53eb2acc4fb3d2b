#!/usr/bin/env bash
# Opt-in end-to-end check, not part of `npm test`: TRL's GRPOTrainer runs two GRPO steps of the recipe
# examples/trl/grpo.py on a tiny local model, on the file `sqlrl prepare --format trl` writes, with
# rewards from a live `sqlrl serve` through integrations/python's adapter (bearer token on). It checks
# that the server scored every completion the trainer generated.
#
#   bash scripts/e2e/trl-grpo.sh
#
# Python runs in the venv lib.sh makes (torch, trl, peft). No model hub is needed: the model and its
# tokenizer are built here from scratch.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WORK=${SQLRL_E2E_WORK:-$(mktemp -d -t sqlrl-e2e-trl-XXXXXX)}
export SQLRL_TOKEN=${SQLRL_TOKEN:-e2e-$$}   # both sqlrl serve and the adapter read it

ensure_venv
build_sqlrl

say "sqlrl prepare --format trl (the bundled sample, think template) -> $WORK/data"
sqlrl prepare --dataset sample --template think --format trl --output "$WORK/data" --force
say "a tiny Qwen2 model with a tokenizer fitted to those prompts -> $WORK/tiny"
"$PY" "$ROOT/scripts/e2e/make_tiny_model.py" "$WORK/data/train.jsonl" "$WORK/tiny"
say "sqlrl prepare again, counting prompt tokens with the tiny model's tokenizer"
sqlrl prepare --dataset sample --template think --format trl --output "$WORK/data" --tokenizer "$WORK/tiny" --max-prompt-length 2048 --force
head -c 400 "$WORK/data/train.jsonl"; echo ' ...'

say "sqlrl serve (arctic reward, bearer token)"
start_serve "$WORK/serve.log" --dataset sample --reward arctic

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
