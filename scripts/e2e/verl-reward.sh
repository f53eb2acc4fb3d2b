#!/usr/bin/env bash
# Opt-in check of the verl recipes without GPUs, not part of `npm test`: verl 0.9.1's own Hydra
# composition loads examples/verl/{sql-r1,arctic}/config.yaml over its ppo_trainer, verl's
# migrate_legacy_reward_impl and get_custom_reward_fn load the adapter with the recipe's reward_kwargs,
# and that function scores the rows `sqlrl prepare --format verl` wrote through a live `sqlrl serve`
# with the recipe's reward preset: the gold answer matches, a wrong one does not.
#
#   bash scripts/e2e/verl-reward.sh            # Spider dev when ../shared/data/spider (or $SPIDER) exists, else the bundled sample
set -euo pipefail
source "$(dirname "$0")/lib.sh"
WORK=${SQLRL_E2E_WORK:-$(mktemp -d -t sqlrl-e2e-verl-XXXXXX)}
export SQLRL_TOKEN=${SQLRL_TOKEN:-e2e-$$}
SPIDER=${SPIDER:-$ROOT/../shared/data/spider}

ensure_venv
ensure_verl
build_sqlrl

for recipe in sql-r1 arctic; do
  case $recipe in
    sql-r1) template=think reward=sql-r1 ;;
    arctic) template=plain reward=arctic ;;
  esac
  if [ -f "$SPIDER/dev.json" ]; then data=(--dataset spider --data-dir "$SPIDER" --split dev --limit 50); else data=(--dataset sample --split dev); fi
  say "$recipe: sqlrl prepare --format verl --template $template (${data[*]})"
  sqlrl prepare "${data[@]}" --template "$template" --format verl --output "$WORK/$recipe" --force
  say "$recipe: sqlrl serve --reward $reward"
  start_serve "$WORK/$recipe-serve.log" "${data[@]}" --reward "$reward"
  say "$recipe: verl's Hydra composition, migrate_legacy_reward_impl and get_custom_reward_fn"
  SQLRL_URL=$URL "$PY" - "$ROOT/examples/verl/$recipe" "$WORK/$recipe/dev.parquet" "$ROOT/integrations/python/sqlrl_rewards.py" "$template" <<'EOF'
import importlib.util, json, os, sys
import pyarrow.parquet as pq
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

recipe, parquet, adapter, template = sys.argv[1:5]
verl_config = os.path.join(importlib.util.find_spec("verl").submodule_search_locations[0], "trainer", "config")
# run.sh's overrides; the search path is verl's config folder itself (pkg://verl.trainer.config imports
# verl's training stack, which needs the GPU packages this check leaves out).
overrides = [f"hydra.searchpath=[file://{verl_config}]", f"data.train_files={parquet}", f"data.val_files={parquet}",
             f"reward.custom_reward_function.path={adapter}"]
with initialize_config_dir(config_dir=recipe, version_base=None):
    cfg = compose(config_name="config", overrides=overrides)
from verl.experimental.reward_loop.reward_loop import migrate_legacy_reward_impl
from verl.trainer.ppo.reward import get_custom_reward_fn
cfg = migrate_legacy_reward_impl(cfg)
OmegaConf.resolve(cfg)
a, d = cfg.actor_rollout_ref, cfg.data
print(f"composed: rollout.n {a.rollout.n}, temperature {a.rollout.temperature}, lr {a.actor.optim.lr}, kl_loss_coef {a.actor.kl_loss_coef}, "
      f"train_batch_size {d.train_batch_size}, ppo_mini_batch_size {a.actor.ppo_mini_batch_size}, prompt/response {d.max_prompt_length}/{d.max_response_length}, "
      f"truncation {d.truncation}, reward_kwargs keys {sorted(cfg.reward.custom_reward_function.reward_kwargs)}")
fn = get_custom_reward_fn(cfg)

def answer(sql):
    if template == "think":
        return "<think>\nThe question asks for this.\n</think>\n<answer>\n```sql\n" + sql + "\n```\n</answer>"
    return "The query:\n```sql\n" + sql + "\n```"

rows = pq.read_table(parquet).to_pylist()
right = wrong = 0
for row in rows:
    gt = row["reward_model"]["ground_truth"]
    gold = json.loads(gt)["gold_sql"]
    kw = dict(data_source=row["data_source"], ground_truth=gt, extra_info=row["extra_info"])
    r = fn(solution_str=answer(gold), **kw)
    w = fn(solution_str=answer("SELECT -123456789"), **kw)
    right += r["status"] == "match"
    wrong += w["status"] == "match"
print(f"{len(rows)} rows: gold answer matched {right}, wrong answer matched {wrong}; first row: {fn(solution_str=answer(json.loads(rows[0]['reward_model']['ground_truth'])['gold_sql']), data_source=rows[0]['data_source'], ground_truth=rows[0]['reward_model']['ground_truth'], extra_info=rows[0]['extra_info'])}")
assert right == len(rows) and wrong == 0
EOF
  kill "$SERVE_PID" 2>/dev/null || true
done
say "OK: both verl recipes compose under verl $VERL_VERSION and score through the adapter (work folder $WORK)"
