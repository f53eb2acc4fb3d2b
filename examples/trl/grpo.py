"""GRPO with TRL's GRPOTrainer on data written by `sqlrl prepare --format trl`, rewards from `sqlrl serve`.

    python examples/trl/grpo.py --config examples/trl/grpo.yaml [--any_field value ...]

Every field of the YAML (and every flag) is a field of TRL's GRPOConfig, of TRL's ModelConfig (model
and LoRA), or of SqlrlArguments below; flags override the file. Pinned against trl 1.16.0.
"""
import os
import sys
from dataclasses import dataclass, field

import torch
from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer, ModelConfig, TrlParser, get_peft_config

try:
    import sqlrl_rewards
except ImportError:  # run from a checkout: the adapter lives in integrations/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integrations", "python"))
    import sqlrl_rewards


# sqlrl-arguments-begin (test/examples reads the field names between these markers)
@dataclass
class SqlrlArguments:
    train_file: str = field(metadata={"help": "the <split>.jsonl that `sqlrl prepare --format trl` wrote"})
    eval_file: str | None = field(default=None, metadata={"help": "an evaluation file in the same format (optional)"})
    sqlrl_url: str = field(default="http://127.0.0.1:8000", metadata={"help": "a running `sqlrl serve` (bearer token from $SQLRL_TOKEN)"})
# sqlrl-arguments-end


def main():
    parser = TrlParser((SqlrlArguments, GRPOConfig, ModelConfig))
    sqlrl_args, training_args, model_args = parser.parse_args_and_config()
    dtype = model_args.dtype if model_args.dtype in ("auto", None) else getattr(torch, model_args.dtype)
    training_args.model_init_kwargs = {**(training_args.model_init_kwargs or {}), "dtype": dtype, "revision": model_args.model_revision}

    # Rows are {"prompt": [chat messages], "db_id", "gold_sql"} or {"prompt", "example_id"}: TRL hands every
    # column but the prompt to the reward function, which sends them to the server with each completion.
    train = load_dataset("json", data_files=sqlrl_args.train_file, split="train")
    evaluation = load_dataset("json", data_files=sqlrl_args.eval_file, split="train") if sqlrl_args.eval_file else None

    trainer = GRPOTrainer(
        model=model_args.model_name_or_path,
        reward_funcs=[sqlrl_rewards.trl_reward_func(sqlrl_args.sqlrl_url)],
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        peft_config=get_peft_config(model_args),
    )
    trainer.train()
    trainer.save_model(training_args.output_dir)


if __name__ == "__main__":
    main()
