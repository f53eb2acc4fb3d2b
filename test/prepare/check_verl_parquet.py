"""Reads a `sqlrl prepare --format verl` file with pyarrow, as verl does, and scores rows through the
Python adapter against a live `sqlrl serve`. Prints one JSON object for the TypeScript test to check.

usage: check_verl_parquet.py FILE URL N
"""
import json
import os
import sys

import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integrations", "python"))
import sqlrl_rewards  # noqa: E402


def think_answer(sql):
    # The `think` template's answer format, written out by hand.
    return "<think>\nThe question asks for this.\n</think>\n<answer>\n```sql\n" + sql + "\n```\n</answer>"


def main():
    path, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    table = pq.read_table(path)
    rows = table.slice(0, n).to_pylist()
    scored = []
    for row in rows:
        gt = row["reward_model"]["ground_truth"]
        gold = json.loads(gt)["gold_sql"]
        right = sqlrl_rewards.compute_score(row["data_source"], think_answer(gold), gt, row["extra_info"], url=url)
        wrong = sqlrl_rewards.compute_score(row["data_source"], think_answer("SELECT -123456789"), gt, row["extra_info"], url=url)
        scored.append({"example_id": row["extra_info"]["example_id"], "right": [right["score"], right["acc"]], "wrong": [wrong["score"], wrong["acc"]]})
    print(json.dumps({
        "num_rows": table.num_rows,
        "columns": table.column_names,
        "types": {f.name: str(f.type) for f in table.schema},
        "first": {k: v for k, v in rows[0].items() if k != "prompt"},
        "first_prompt_roles": [m["role"] for m in rows[0]["prompt"]],
        "scored": scored,
    }))


if __name__ == "__main__":
    main()
