"""Runs with `python3 -m unittest` from integrations/python: starts real `sqlrl serve` processes on the bundled
sample (one with a bearer token and a small body limit, the arctic preset with lenient extraction, one under
sql-r1 whose format check shows what a prefilled <think> changes)."""
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqlrl_rewards  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOOD = "<think>count</think><answer>```sql\nSELECT count(*) FROM customers\n```</answer>"
WRONG = "<think>count</think><answer>```sql\nSELECT count(*) FROM products\n```</answer>"
GOLD = {"db_id": "shop", "gold_sql": "SELECT count(*) FROM customers"}
BODY_LIMIT_MIB = 0.05  # 52429 bytes (52428.8 rounded)


def start_server(*args):
    cmd = os.environ.get("SQLRL_CMD", "node --import tsx test/helpers/sqlrl-cli.ts").split()
    proc = subprocess.Popen(cmd + ["serve", "--dataset", "sample", "--port", "0", *args], cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    line = proc.stderr.readline()
    m = re.search(r"(http://[^ ]+)", line)
    if not m:
        proc.kill()
        raise RuntimeError("sqlrl serve did not start: " + line + proc.stderr.read())
    return proc, m.group(1)


def stop_server(proc):
    proc.terminate()
    proc.wait(timeout=30)
    proc.stderr.close()


def post_json(url, body, headers=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def requests_served(url):
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer s3cret"})
    text = urllib.request.urlopen(req, timeout=30).read().decode()
    m = re.search(r'sqlrl_requests_total\{route="/v1/rewards"\} (\d+)', text)
    return int(m.group(1)) if m else 0


class SqlrlServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.url = start_server("--reward", "arctic", "--extract", "lenient", "--token", "s3cret", "--body-limit", str(BODY_LIMIT_MIB))
        cls.r1_proc, cls.r1_url = start_server("--reward", "sql-r1")

    @classmethod
    def tearDownClass(cls):
        stop_server(cls.proc)
        stop_server(cls.r1_proc)

    def client(self, **kw):
        return sqlrl_rewards.SqlrlRewardClient(self.url, token="s3cret", **kw)

    # ------------------------------------------------------------------ the batch API

    def test_client_scores_by_example_id_and_by_db_and_gold(self):
        out = self.client().score([
            {"completion": GOOD, "example_id": "jsonl-0000"},
            {"completion": WRONG, **GOLD},
            {"completion": "no idea", "example_id": "jsonl-0000"},
        ])
        self.assertEqual([r["reward"] for r in out], [1.0, 0.1, 0.0])
        self.assertEqual([r["status"] for r in out], ["match", "mismatch", "no_sql"])

    def test_wrong_token_is_refused(self):
        with self.assertRaises(sqlrl_rewards.SqlrlServerError) as ctx:
            sqlrl_rewards.SqlrlRewardClient(self.url, token="nope", retries=0).score([{"completion": GOOD, "example_id": "jsonl-0000"}])
        self.assertEqual(ctx.exception.status, 401)

    def test_limits_come_from_health(self):
        self.assertEqual(self.client().limits(), (52429, 4096))

    def test_a_batch_over_the_body_limit_is_split_and_keeps_its_order(self):
        # 120 items of ~1.2 KB: ~145 KB in all, about three times the 52 KB limit
        pad = "-- " + "x" * 1200 + "\n"
        items = [{"completion": "<answer>```sql\n" + pad + (GOOD_SQL if i % 3 else WRONG_SQL) + "\n```</answer>", **GOLD} for i in range(120)]
        before = requests_served(self.url)
        out = self.client().score(items)
        sent = requests_served(self.url) - before
        self.assertEqual([r["reward"] for r in out], [1.0 if i % 3 else 0.1 for i in range(120)])
        self.assertGreaterEqual(sent, 3)
        self.assertLessEqual(sent, 5)

    def test_a_client_that_overestimates_the_limit_halves_on_413(self):
        items = [{"completion": GOOD + " " + "y" * 1000, "example_id": "jsonl-0000"} for _ in range(120)]
        out = self.client(max_body_bytes=10 * 1024 * 1024).score(items)
        self.assertEqual([r["reward"] for r in out], [1.0] * 120)

    def test_one_completion_over_the_limit_is_a_413_not_a_broken_pipe(self):
        huge = {"completion": GOOD + "z" * (200 * 1024), "example_id": "jsonl-0000"}
        with self.assertRaises(sqlrl_rewards.PayloadTooLarge) as ctx:
            self.client().score([huge])
        self.assertEqual(ctx.exception.status, 413)
        self.assertIn("body limit", str(ctx.exception))
        # a raw urllib POST of 600 KB (11 times the limit; urllib sends it all before reading) gets the server's 413
        # too, not a broken pipe: the server reads an over-limit body (up to 16 times the limit) before answering
        body = json.dumps({"items": [{"completion": "z" * (600 * 1024), "example_id": "jsonl-0000"}]}).encode()
        req = urllib.request.Request(self.url + "/v1/rewards", data=body, method="POST", headers={"Content-Type": "application/json", "Authorization": "Bearer s3cret"})
        with self.assertRaises(urllib.error.HTTPError) as raw:
            urllib.request.urlopen(req, timeout=60)
        self.assertEqual(raw.exception.code, 413)

    def test_retries_and_timeout_are_settings(self):
        dead = sqlrl_rewards.SqlrlRewardClient("http://127.0.0.1:9", retries=2, timeout=5, max_body_bytes=1 << 20, max_items=10)
        t0 = time.monotonic()
        with self.assertRaises(urllib.error.URLError):
            dead.score([{"completion": GOOD, "example_id": "jsonl-0000"}])
        self.assertGreaterEqual(time.monotonic() - t0, 1.4)  # backoff 0.5 + 1.0 between three attempts
        os.environ["SQLRL_TIMEOUT"], os.environ["SQLRL_RETRIES"] = "7.5", "1"
        try:
            c = sqlrl_rewards.SqlrlRewardClient(self.url)
            self.assertEqual((c.timeout, c.retries), (7.5, 1))
        finally:
            del os.environ["SQLRL_TIMEOUT"], os.environ["SQLRL_RETRIES"]

    # ------------------------------------------------------------------ TRL

    def test_trl_reward_function_reads_dataset_columns(self):
        fn = sqlrl_rewards.trl_reward_func(self.url, token="s3cret")
        conversational = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": WRONG}]]
        self.assertEqual(fn(prompts=[[{"role": "user", "content": "q"}]] * 2, completions=conversational, example_id=["jsonl-0000", "jsonl-0000"]), [1.0, 0.1])
        self.assertEqual(fn(prompts=["p"], completions=[GOOD], db_id=["shop"], gold_sql=["SELECT count(*) FROM customers"]), [1.0])

    def test_trl_prefilled_think_under_sql_r1(self):
        answer = "count them\n</think>\n<answer>\n```sql\nSELECT count(*) FROM customers\n```\n</answer>"
        # standard prompts: the prefix argument (or a `prefix` column) is what the prompt prefilled
        plain = sqlrl_rewards.trl_reward_func(self.r1_url)
        self.assertEqual(plain(prompts=["p"], completions=[answer], example_id=["jsonl-0000"]), [-1.0])
        with_prefix = sqlrl_rewards.trl_reward_func(self.r1_url, prefix="<think>\n")
        self.assertGreater(with_prefix(prompts=["p"], completions=[answer], example_id=["jsonl-0000"])[0], 6.0)
        self.assertGreater(plain(prompts=["p"], completions=[answer], example_id=["jsonl-0000"], prefix=["<think>\n"])[0], 6.0)
        # conversational: TRL puts the prefilled assistant message in front of the completion itself...
        msgs = [{"role": "assistant", "content": "<think>\n" + answer}]
        self.assertGreater(plain(prompts=[[{"role": "user", "content": "q"}]], completions=[msgs], example_id=["jsonl-0000"])[0], 6.0)
        # ... and when a prompt still ends with the prefill, the adapter adds it
        prompt = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>\n"}]
        self.assertGreater(plain(prompts=[prompt], completions=[[{"role": "assistant", "content": answer}]], example_id=["jsonl-0000"])[0], 6.0)

    # ------------------------------------------------------------------ verl

    def test_verl_compute_score_with_extra_keyword_arguments_and_acc(self):
        r = sqlrl_rewards.compute_score("sqlrl", GOOD, "jsonl-0000", url=self.url, token="s3cret", reward_router_address="10.0.0.1:9000", reward_model_tokenizer=None)
        self.assertEqual(r, {"score": 1.0, "acc": 1.0, "reward_execution": 1.0})
        r = sqlrl_rewards.compute_score("sqlrl", WRONG, json.dumps(GOLD), None, url=self.url, token="s3cret", some_future_argument=1)
        self.assertEqual((r["score"], r["acc"]), (0.1, 0.0))
        self.assertTrue(all(isinstance(v, float) for v in r.values()), "verl averages every key: numbers only")

    def test_verl_stops_on_a_completion_the_server_could_not_judge(self):
        # /v1/rewards answers reward null for infra_error / db_missing; verl cannot leave a sample out
        no = {"reward": None, "status": "db_missing", "error": "cannot open database x.sqlite", "components": {}, "sql": "SELECT 1"}
        with self.assertRaisesRegex(sqlrl_rewards.NoReward, "db_missing.*cannot open database x.sqlite"):
            sqlrl_rewards._verl_result(no)

    def test_verl_prefix_from_extra_info_async_and_batch(self):
        answer = "c\n</think>\n<answer>\n```sql\nSELECT count(*) FROM customers\n```\n</answer>"
        r = asyncio.run(sqlrl_rewards.compute_score_async("sqlrl", answer, GOLD, {"prefix": "<think>\n"}, url=self.r1_url, reward_router_address=None))
        self.assertEqual(r["acc"], 1.0)
        self.assertEqual(sorted(r), ["acc", "reward_execution", "reward_format", "reward_length", "reward_result", "score"])
        self.assertEqual((r["reward_format"], r["reward_execution"], r["reward_result"]), (1.0, 2.0, 3.0))
        out = sqlrl_rewards.compute_score_batch(["sqlrl"] * 2, [answer, answer], ["jsonl-0000", "jsonl-0000"], [{"prefix": "<think>\n"}, {}], url=self.r1_url)
        self.assertEqual([x["acc"] for x in out], [1.0, 0.0])
        self.assertEqual(out[1]["score"], -1.0)

    # ------------------------------------------------------------------ OpenRLHF

    def test_openrlhf_protocol_strips_special_tokens(self):
        prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
        queries = [
            prompt + GOOD + "<|im_end|>",
            prompt + "SELECT count(*) FROM customers</s>",
            prompt + "<answer>```sql\nSELECT count(*) FROM customers\n```</answer><|im_end|><|endoftext|><|endoftext|>",
            prompt + "SELECT count(*) FROM customers<|eot_id|>",
            prompt + "SELECT count(*) FROM customers<｜end▁of▁sentence｜>",
        ]
        # OpenRLHF sends no Authorization header: the token goes in the URL
        out = post_json(self.url + "/get_reward?token=s3cret", {"query": queries, "prompts": [prompt] * 5, "labels": ["jsonl-0000"] * 5})
        # bare SQL ending in '</s>' would be a syntax error if the token stayed
        self.assertEqual(out["rewards"], [1.0] * 5)
        self.assertEqual(out["status"], ["match"] * 5)
        self.assertEqual(out["extra_logs"]["prompt_not_found"], [0] * 5)

    def test_openrlhf_missing_prompt_is_an_error_status_not_the_whole_text(self):
        prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
        # the first prompt is not inside its query (OpenRLHF truncated it, or decoding changed it)
        out = post_json(self.url + "/get_reward", {"query": ["xx" + GOOD, prompt + GOOD], "prompts": [prompt + "zz", prompt], "labels": ["jsonl-0000", json.dumps(GOLD)]}, {"Authorization": "Bearer s3cret"})
        self.assertEqual(out["status"], ["prompt_not_found", "match"])
        self.assertEqual(out["rewards"], [0.0, 1.0])
        self.assertEqual(out["extra_logs"]["prompt_not_found"], [1, 0])

    def test_openrlhf_prefill_read_from_the_prompt(self):
        prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n"
        query = prompt + "count\n</think>\n<answer>\n```sql\nSELECT count(*) FROM customers\n```\n</answer><|im_end|>"
        out = post_json(self.r1_url + "/get_reward", {"query": [query], "prompts": [prompt], "labels": ["jsonl-0000"]})
        self.assertEqual(out["status"], ["match"])
        self.assertGreater(out["rewards"][0], 6.0)

    def test_openrlhf_without_token_gets_401(self):
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            post_json(self.url + "/get_reward", {"query": [GOOD], "prompts": [""], "labels": ["jsonl-0000"]})
        self.assertEqual(ctx.exception.code, 401)


GOOD_SQL = "SELECT count(*) FROM customers"
WRONG_SQL = "SELECT count(*) FROM products"

if __name__ == "__main__":
    unittest.main()
