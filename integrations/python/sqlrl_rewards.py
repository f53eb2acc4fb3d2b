"""sqlrl rewards from Python RL engines, standard library only.

A thin client of `sqlrl serve` (POST /v1/rewards) and the glue each engine wants:

- TRL:  GRPOTrainer(reward_funcs=[trl_reward_func("http://host:8000")], ...)
        Dataset columns `example_id`, or `db_id` + `gold_sql`, reach the function as keyword arguments.
- verl: custom_reward_function.path=integrations/python/sqlrl_rewards.py
        custom_reward_function.name=compute_score   (server URL from $SQLRL_URL)
        ground_truth is an example id or a JSON object {"db_id", "gold_sql"}.
- OpenRLHF: no Python needed; pass --reward.remote_url http://host:8000/get_reward
        (or --remote_rm_url before v0.10.2); labels are example ids or {"db_id", "gold_sql"} JSON.
"""
import json
import os
import time
import urllib.error
import urllib.request

__all__ = ["SqlrlRewardClient", "trl_reward_func", "compute_score"]


class SqlrlRewardClient:
    """Calls POST {url}/v1/rewards; retries connection errors and 5xx with backoff."""

    def __init__(self, url=None, token=None, timeout=300.0, retries=5):
        self.url = (url or os.environ.get("SQLRL_URL") or "http://127.0.0.1:8000").rstrip("/")
        self.token = token if token is not None else os.environ.get("SQLRL_TOKEN")
        self.timeout = timeout
        self.retries = retries

    def score(self, items):
        """items: [{"completion", "example_id"} | {"completion", "db_id", "gold_sql"}] -> [{"reward", "components", "status", "sql"}]"""
        body = json.dumps({"items": list(items)}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        delay = 0.5
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url + "/v1/rewards", data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))["results"]
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")
                if e.code < 500 or attempt == self.retries:
                    raise ValueError("sqlrl serve answered %d: %s" % (e.code, detail)) from None
            except urllib.error.URLError:
                if attempt == self.retries:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
        raise RuntimeError("unreachable")

    def rewards(self, items):
        return [r["reward"] for r in self.score(items)]


def _completion_text(completion):
    # TRL passes plain strings, or (conversational) a list of {"role", "content"} messages.
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return completion


def _item(completion, example_id=None, db_id=None, gold_sql=None):
    if example_id is not None:
        return {"completion": completion, "example_id": str(example_id)}
    if db_id is not None and gold_sql is not None:
        return {"completion": completion, "db_id": db_id, "gold_sql": gold_sql}
    raise ValueError("each example needs an 'example_id' column, or 'db_id' and 'gold_sql' columns")


def trl_reward_func(url=None, token=None):
    """A TRL reward function: (prompts, completions, **columns) -> list of floats."""
    client = SqlrlRewardClient(url, token)

    def sqlrl_reward(prompts=None, completions=None, **kwargs):
        n = len(completions)
        ids = kwargs.get("example_id")
        dbs = kwargs.get("db_id")
        golds = kwargs.get("gold_sql")
        items = [
            _item(
                _completion_text(completions[i]),
                example_id=ids[i] if ids is not None else None,
                db_id=dbs[i] if dbs is not None else None,
                gold_sql=golds[i] if golds is not None else None,
            )
            for i in range(n)
        ]
        return client.rewards(items)

    sqlrl_reward.__name__ = "sqlrl_reward"
    return sqlrl_reward


_verl_client = None


def compute_score(data_source, solution_str, ground_truth, extra_info=None, url=None, token=None):
    """verl custom reward: returns {"score", "status", ...components}."""
    global _verl_client
    if _verl_client is None or url is not None:
        _verl_client = SqlrlRewardClient(url, token)
    label = ground_truth
    if isinstance(label, str) and label.strip().startswith("{"):
        label = json.loads(label)
    if isinstance(label, dict):
        item = _item(solution_str, db_id=label.get("db_id"), gold_sql=label.get("gold_sql"))
    else:
        item = _item(solution_str, example_id=label)
    r = _verl_client.score([item])[0]
    out = {"score": r["reward"], "status": r["status"]}
    out.update({"reward_" + k: v for k, v in r["components"].items()})
    return out
