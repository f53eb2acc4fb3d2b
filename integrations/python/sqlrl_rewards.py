"""sqlrl rewards from Python RL engines, standard library only.

A client of `sqlrl serve` (POST /v1/rewards) and the glue each engine wants:

- TRL:  GRPOTrainer(reward_funcs=[trl_reward_func("http://host:8000")], ...)
        Dataset columns `example_id`, or `db_id` + `gold_sql` (and optionally `prefix`), reach the function
        as keyword arguments.
- verl: custom_reward_function.path=<this file>, custom_reward_function.name=compute_score
        (or compute_score_async for verl's async reward loop, compute_score_batch for the `batch` manager);
        server URL from $SQLRL_URL; ground_truth is an example id or a JSON object {"db_id", "gold_sql"}.
- OpenRLHF: no Python needed; pass --reward.remote_url http://host:8000/get_reward
        (or --remote_rm_url before v0.10.2); labels are example ids or {"db_id", "gold_sql"} JSON.

Large batches are split under the server's body limit and item cap (read from GET /health); a request the
server still refuses as too large is split again, and a single completion over the limit raises
PayloadTooLarge. Timeouts and retries are settings (arguments, or $SQLRL_TIMEOUT / $SQLRL_RETRIES).
"""
import asyncio
import json
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "SqlrlRewardClient",
    "SqlrlServerError",
    "PayloadTooLarge",
    "trl_reward_func",
    "compute_score",
    "compute_score_async",
    "compute_score_batch",
]

DEFAULT_BODY_LIMIT = 16 * 1024 * 1024
DEFAULT_MAX_ITEMS = 4096


class SqlrlServerError(ValueError):
    """The server refused a request (4xx) or kept failing (5xx): `status` is the HTTP status, `detail` its message."""

    def __init__(self, status, detail):
        super().__init__("sqlrl serve answered %d: %s" % (status, detail))
        self.status = status
        self.detail = detail


class PayloadTooLarge(SqlrlServerError):
    """HTTP 413: a single item is over the server's body limit (batches are split before it comes to this)."""


def _env_number(name, default, cast):
    value = os.environ.get(name)
    return cast(value) if value not in (None, "") else default


class SqlrlRewardClient:
    """Calls POST {url}/v1/rewards.

    url      server address (default $SQLRL_URL, else http://127.0.0.1:8000)
    token    bearer token (default $SQLRL_TOKEN; none if unset)
    timeout  seconds per HTTP request (default $SQLRL_TIMEOUT, else 300)
    retries  retries of connection errors and 5xx answers, with exponential backoff from 0.5 s up to 8 s
             (default $SQLRL_RETRIES, else 5); 4xx answers are not retried
    max_body_bytes, max_items   batch limits; default: what the server's GET /health says
    concurrency  batches of one score() call in flight at once (default 4)
    """

    def __init__(self, url=None, token=None, timeout=None, retries=None, max_body_bytes=None, max_items=None, concurrency=4):
        self.url = (url or os.environ.get("SQLRL_URL") or "http://127.0.0.1:8000").rstrip("/")
        self.token = token if token is not None else os.environ.get("SQLRL_TOKEN")
        self.timeout = float(timeout) if timeout is not None else _env_number("SQLRL_TIMEOUT", 300.0, float)
        self.retries = int(retries) if retries is not None else _env_number("SQLRL_RETRIES", 5, int)
        self.concurrency = max(1, int(concurrency))
        self._max_body = max_body_bytes
        self._max_items = max_items
        self._limits_lock = threading.Lock()

    # ------------------------------------------------------------------ limits

    def limits(self):
        """(body limit in bytes, items per request): given, else read once from GET /health, else the defaults."""
        with self._limits_lock:
            if self._max_body is None or self._max_items is None:
                health = {}
                try:
                    with urllib.request.urlopen(self.url + "/health", timeout=min(self.timeout, 30.0)) as resp:
                        health = json.loads(resp.read().decode("utf-8"))
                except (urllib.error.URLError, OSError, ValueError):
                    pass  # an older server or a proxy: fall back to the defaults and to splitting on 413
                if self._max_body is None:
                    self._max_body = int(health.get("body_limit") or DEFAULT_BODY_LIMIT)
                if self._max_items is None:
                    self._max_items = int(health.get("max_items") or DEFAULT_MAX_ITEMS)
            return self._max_body, self._max_items

    # ------------------------------------------------------------------ requests

    def _headers(self):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    def _post(self, encoded):
        """One request with retries; `encoded` is the list of JSON-encoded items."""
        body = b'{"items": [' + b", ".join(encoded) + b"]}"
        delay = 0.5
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url + "/v1/rewards", data=body, headers=self._headers(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))["results"]
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")
                try:
                    detail = json.loads(detail).get("error", detail)
                except ValueError:
                    pass
                if e.code == 413:
                    raise PayloadTooLarge(413, detail) from None
                if e.code < 500 or attempt == self.retries:
                    raise SqlrlServerError(e.code, detail) from None
            except urllib.error.URLError as e:
                # The server closes the connection on a body it will not read: the sender sees a broken pipe.
                if isinstance(e.reason, (BrokenPipeError, ConnectionResetError)) and len(body) > self.limits()[0]:
                    raise PayloadTooLarge(413, "connection closed while sending %d bytes (over the server's body limit)" % len(body)) from None
                if attempt == self.retries:
                    raise
            except (ConnectionError, TimeoutError):
                if attempt == self.retries:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
        raise RuntimeError("unreachable")

    def _send(self, encoded):
        """Scores a batch; a batch the server finds too large is halved until it fits (one item over the limit raises)."""
        try:
            return self._post(encoded)
        except PayloadTooLarge as e:
            if len(encoded) == 1:
                raise PayloadTooLarge(413, "one completion (%d bytes as JSON) is over the server's body limit: %s" % (len(encoded[0]), e.detail)) from None
            half = len(encoded) // 2
            return self._send(encoded[:half]) + self._send(encoded[half:])

    def batches(self, items):
        """Items JSON-encoded and packed into requests under the body limit and the item cap (order kept)."""
        max_body, max_items = self.limits()
        budget = max_body - len(b'{"items": []}')
        out, batch, size = [], [], 0
        for item in items:
            enc = json.dumps(item).encode("ascii")
            extra = len(enc) + (2 if batch else 0)
            if batch and (size + extra > budget or len(batch) >= max_items):
                out.append(batch)
                batch, size, extra = [], 0, len(enc)
            batch.append(enc)
            size += extra
        if batch:
            out.append(batch)
        return out

    def score(self, items):
        """items: [{"completion", "example_id"} | {"completion", "db_id", "gold_sql"}, each with an optional "prefix"]
        -> [{"reward", "components", "status", "sql"}], in order."""
        items = list(items)
        if not items:
            return []
        batches = self.batches(items)
        if len(batches) == 1:
            return self._send(batches[0])
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batches))) as pool:
            parts = list(pool.map(self._send, batches))
        return [r for part in parts for r in part]

    def rewards(self, items):
        return [r["reward"] for r in self.score(items)]


# ---------------------------------------------------------------------- items


def _item(completion, example_id=None, db_id=None, gold_sql=None, prefix=None):
    if example_id is not None:
        item = {"completion": completion, "example_id": str(example_id)}
    elif db_id is not None and gold_sql is not None:
        item = {"completion": completion, "db_id": db_id, "gold_sql": gold_sql}
    else:
        raise ValueError("each example needs an 'example_id' column, or 'db_id' and 'gold_sql' columns")
    if prefix:
        item["prefix"] = prefix
    return item


def _label_item(completion, label, prefix=None):
    """verl's ground_truth: an example id, a {"db_id", "gold_sql"} dict, or that dict as a JSON string."""
    if isinstance(label, str) and label.strip().startswith("{"):
        label = json.loads(label)
    if isinstance(label, dict):
        return _item(completion, db_id=label.get("db_id"), gold_sql=label.get("gold_sql"), prefix=prefix or label.get("prefix"))
    return _item(completion, example_id=label, prefix=prefix)


def _trl_completion(completion, prompt):
    """(text, prefix) of a TRL completion. Conversational completions are message lists; when the prompt still
    ends with an assistant message (a prefill) the completion does not repeat, its content is the prefix."""
    if isinstance(completion, list):
        text = "".join(m.get("content", "") for m in completion if isinstance(m, dict))
        if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict) and prompt[-1].get("role") == "assistant":
            prefill = prompt[-1].get("content") or ""
            if not text.startswith(prefill):
                return text, prefill
        return text, None
    return completion, None


# ---------------------------------------------------------------------- TRL


def trl_reward_func(url=None, token=None, timeout=None, retries=None, prefix=None, **client_options):
    """A TRL reward function: (prompts, completions, **columns) -> list of floats.

    prefix  text the prompt prefilled in the assistant turn, for standard (string) prompts whose completions
            start after it (e.g. "<think>\\n"); a `prefix` dataset column wins over it. Conversational prompts
            need none: TRL puts a prefilled assistant message's content in front of the completion itself.
    """
    client = SqlrlRewardClient(url, token, timeout=timeout, retries=retries, **client_options)

    def sqlrl_reward(prompts=None, completions=None, **kwargs):
        n = len(completions)
        ids = kwargs.get("example_id")
        dbs = kwargs.get("db_id")
        golds = kwargs.get("gold_sql")
        prefixes = kwargs.get("prefix")
        items = []
        for i in range(n):
            text, own = _trl_completion(completions[i], prompts[i] if prompts is not None else None)
            pre = own if own is not None else (prefixes[i] if prefixes is not None else prefix)
            items.append(
                _item(
                    text,
                    example_id=ids[i] if ids is not None else None,
                    db_id=dbs[i] if dbs is not None else None,
                    gold_sql=golds[i] if golds is not None else None,
                    prefix=pre,
                )
            )
        return client.rewards(items)

    sqlrl_reward.__name__ = "sqlrl_reward"
    return sqlrl_reward


# ---------------------------------------------------------------------- verl

_clients = {}
_clients_lock = threading.Lock()


def _client(kwargs):
    key = (kwargs.get("url"), kwargs.get("token"), kwargs.get("timeout"), kwargs.get("retries"))
    with _clients_lock:
        if key not in _clients:
            _clients[key] = SqlrlRewardClient(*key)
        return _clients[key]


class NoReward(RuntimeError):
    """The server could not judge a completion (its database is missing, or the SQL sandbox failed twice)."""


def _verl_result(r):
    # verl averages every returned key in validation (numbers only), and reports `acc` as the accuracy.
    # verl has no way to leave a sample out: a completion the server could not judge stops the run with the
    # reason, instead of entering training as a wrong answer (TRL gets None, which it ignores).
    if r["reward"] is None:
        raise NoReward("sqlrl: no reward for a completion: status %s (%s)" % (r["status"], r.get("error")))
    out = {"score": r["reward"], "acc": 1.0 if r["status"] == "match" else 0.0}
    out.update({"reward_" + k: v for k, v in r["components"].items()})
    return out


def _prefix(extra_info, kwargs):
    if kwargs.get("prefix") is not None:
        return kwargs["prefix"]
    if isinstance(extra_info, dict) and extra_info.get("prefix") is not None:
        return extra_info["prefix"]
    return None


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """verl custom reward: {"score": reward, "acc": 1.0 on an execution match else 0.0, "reward_<component>": ...}.

    Keyword arguments verl adds (reward_router_address, reward_model_tokenizer, ...) are accepted and ignored;
    `url`, `token`, `timeout`, `retries` and `prefix` may come through custom_reward_function.reward_kwargs, and
    `prefix` also from extra_info["prefix"] (the text the prompt prefilled, e.g. "<think>\\n").
    """
    item = _label_item(solution_str, ground_truth, _prefix(extra_info, kwargs))
    return _verl_result(_client(kwargs).score([item])[0])


async def compute_score_async(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    """compute_score for verl's async reward loop (awaited); the HTTP call runs in a worker thread."""
    return await asyncio.to_thread(compute_score, data_source, solution_str, ground_truth, extra_info, **kwargs)


def compute_score_batch(data_sources, solution_strs, ground_truths, extra_infos=None, **kwargs):
    """verl's `batch` reward manager: lists in, a list of compute_score dicts out (one request per server batch)."""
    extra_infos = extra_infos if extra_infos is not None else [None] * len(solution_strs)
    items = [_label_item(s, g, _prefix(e, kwargs)) for s, g, e in zip(solution_strs, ground_truths, extra_infos)]
    return [_verl_result(r) for r in _client(kwargs).score(items)]
