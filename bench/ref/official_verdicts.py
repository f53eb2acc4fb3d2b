"""Per-example verdicts of the official Spider evaluator (taoyds/test-suite-sql-eval), for bench:eval.
Runs its own evaluation.evaluate() unchanged on the gold and prediction files, recording what each call
of its eval_exec_match returned (evaluation.py itself prints only the totals).
Usage, in the evaluator's folder with its nltk-standin on PYTHONPATH:
    official_verdicts.py GOLD PRED DB_DIR  ->  JSON list of 0/1 on stdout, in file order"""
import contextlib
import io
import json
import os
import sys

sys.path.insert(0, os.getcwd())
import evaluation  # noqa: E402  (the official module, from the current directory)

gold, pred, db_dir = sys.argv[1:4]
verdicts = []
official_match = evaluation.eval_exec_match


def recording_match(**kwargs):
    verdict = official_match(**kwargs)
    verdicts.append(1 if verdict else 0)
    return verdict


evaluation.eval_exec_match = recording_match
with contextlib.redirect_stdout(io.StringIO()):
    # the arguments evaluation.py passes for --etype exec without --plug_value / --keep_distinct
    evaluation.evaluate(gold, pred, db_dir, "exec", None, False, False, False)
print(json.dumps(verdicts))
