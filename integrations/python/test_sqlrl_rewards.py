"""Runs with `python3 -m unittest` from integrations/python: starts a real `sqlrl serve` on the bundled sample."""
import json
import os
import re
import subprocess
import sys
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sqlrl_rewards  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOOD = "<think>count</think><answer>```sql\nSELECT count(*) FROM customers\n```</answer>"
WRONG = "<think>count</think><answer>```sql\nSELECT count(*) FROM products\n```</answer>"


class SqlrlServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cmd = os.environ.get("SQLRL_CMD", "node --import tsx test/helpers/sqlrl-cli.ts").split()
        cls.proc = subprocess.Popen(
            cmd + ["serve", "--dataset", "sample", "--reward", "arctic", "--port", "0", "--token", "s3cret"],
            cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        line = cls.proc.stderr.readline()
        m = re.search(r"(http://[^ ]+)", line)
        if not m:
            cls.proc.kill()
            raise RuntimeError("sqlrl serve did not start: " + line + cls.proc.stderr.read())
        cls.url = m.group(1)

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=30)
        cls.proc.stderr.close()

    def test_client_scores_by_example_id_and_by_db_and_gold(self):
        client = sqlrl_rewards.SqlrlRewardClient(self.url, token="s3cret")
        out = client.score([
            {"completion": GOOD, "example_id": "jsonl-0000"},
            {"completion": WRONG, "db_id": "shop", "gold_sql": "SELECT count(*) FROM customers"},
            {"completion": "no idea", "example_id": "jsonl-0000"},
        ])
        self.assertEqual([r["reward"] for r in out], [1.0, 0.1, 0.0])
        self.assertEqual([r["status"] for r in out], ["match", "mismatch", "no_sql"])

    def test_wrong_token_is_refused(self):
        client = sqlrl_rewards.SqlrlRewardClient(self.url, token="nope", retries=0)
        with self.assertRaises(ValueError) as ctx:
            client.score([{"completion": GOOD, "example_id": "jsonl-0000"}])
        self.assertIn("401", str(ctx.exception))

    def test_trl_reward_function_reads_dataset_columns(self):
        fn = sqlrl_rewards.trl_reward_func(self.url, token="s3cret")
        conversational = [[{"role": "assistant", "content": GOOD}], [{"role": "assistant", "content": WRONG}]]
        self.assertEqual(fn(prompts=["p", "p"], completions=conversational, example_id=["jsonl-0000", "jsonl-0000"]), [1.0, 0.1])
        self.assertEqual(fn(prompts=["p"], completions=[GOOD], db_id=["shop"], gold_sql=["SELECT count(*) FROM customers"]), [1.0])

    def test_verl_compute_score(self):
        r = sqlrl_rewards.compute_score("sqlrl", GOOD, "jsonl-0000", url=self.url, token="s3cret")
        self.assertEqual(r["score"], 1.0)
        self.assertEqual(r["status"], "match")
        r = sqlrl_rewards.compute_score("sqlrl", WRONG, json.dumps({"db_id": "shop", "gold_sql": "SELECT count(*) FROM customers"}))
        self.assertEqual(r["score"], 0.1)

    def test_openrlhf_protocol(self):
        body = json.dumps({"query": ["<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n" + GOOD + "<|im_end|>"],
                           "prompts": ["<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"], "labels": ["jsonl-0000"]}).encode()
        req = urllib.request.Request(self.url + "/get_reward", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            out = json.loads(resp.read())
        self.assertEqual(out["rewards"], [1.0])
        self.assertEqual(out["scores"], [1])
        self.assertIn("extra_logs", out)


if __name__ == "__main__":
    unittest.main()
