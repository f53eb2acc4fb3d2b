"""SQL-R1's and Arctic-Text2SQL-R1's published reward rules, re-stated with Python's standard library.

A reference for the `sql-r1` and `arctic` presets, written from the rules as the published code states them
(not from sqlrl, and not copied from that code):

- SQL-R1, DataArcTech/SQL-R1 at acb5c0d, verl/utils/reward_score/synsql.py (compute_score) and exec_eval.py
  (eval_exec_match, the test-suite evaluator's comparison): the response's last <think>/<answer> blocks,
  stripped; the format needs one of each tag, in order, and a non-empty closed ```sql block in the answer
  (its last one, stripped); predicted and gold SQL get every whitespace run collapsed to one space; format
  +1/-1; only when it passes: execution +2 (runs) / -2 (raises) / 0 (gold raises; unreachable: the published
  code's `pred_passes == 3` makes a raising gold a Match), result +3/-3, and on a Match the length term
  L/2048*0.5 (capped at 0.5) + len(sql)/len(answer), L = len(think) + len(answer).
- Arctic, snowflakedb/ArcticTraining projects/arctic_text2sql_r1/bird_eval (infer.py parse_response,
  the BIRD evaluation it feeds): the SQL is the last ```sql\\s*(.*?)\\s*``` block, stripped, else none;
  the paper's reward: 1 if set(pred rows) == set(gold rows), 0.1 if the SQL runs, 0 otherwise.

stdin: {"items": [{"id", "response", "gold", "db"}]}; stdout: {"results": [{"id", "sql_r1": {...}, "arctic": {...}}]}
"""
import itertools
import json
import re
import sqlite3
import sys
from collections import Counter


# ---------------------------------------------------------------------- execution as the evaluators do it


def run(db, sql):
    """('rows', rows) or ('raise', message): one sqlite3 execute on a fresh connection, text decoded leniently."""
    conn = sqlite3.connect(db)
    conn.text_factory = lambda b: b.decode(errors="ignore")
    try:
        return "rows", conn.execute(sql).fetchall()
    except Exception as e:  # any failure of the statement counts as "raises"
        return "raise", str(e)
    finally:
        conn.close()


# ---------------------------------------------------------------------- SQL-R1

def last_group(pattern, text):
    found = re.findall(pattern, text, re.DOTALL)
    return found[-1] if found else None


def sql_r1_parts(response):
    think = last_group(r"<think>(.*?)</think>", response)
    answer = last_group(r"<answer>(.*?)</answer>", response)
    think = think.strip() if think is not None else None
    answer = answer.strip() if answer is not None else None
    tags = ["<think>", "</think>", "<answer>", "</answer>"]
    ok = all(response.count(t) == 1 for t in tags)
    pos = [response.find(t) for t in tags]
    if pos[0] > pos[1] or pos[1] > pos[2] or pos[2] > pos[3]:
        ok = False
    sql = None
    if ok:
        block = last_group(r"```sql(.*?)```", answer)
        sql = block.strip() if block is not None else None
        if not sql:
            ok = False
    return think, answer, sql, ok


def split_code(sql):
    """(text, is_code) pieces: quoted strings/identifiers and comments are not code."""
    out, i, code = [], 0, ""
    while i < len(sql):
        c = sql[i]
        if c in "'\"`[":
            close = "]" if c == "[" else c
            j = i + 1
            while j < len(sql):
                if sql[j] == close:
                    if close != "]" and j + 1 < len(sql) and sql[j + 1] == close:
                        j += 2
                        continue
                    break
                j += 1
            out.append((code, True))
            out.append((sql[i:j + 1], False))
            code, i = "", j + 1
        elif sql.startswith("--", i) or sql.startswith("/*", i):
            end = sql.find("\n", i) if c == "-" else sql.find("*/", i + 2)
            end = len(sql) if end < 0 else (end if c == "-" else end + 2)
            out.append((code, True))
            out.append((sql[i:end], False))
            code, i = "", end
        else:
            code += c
            i += 1
    out.append((code, True))
    return [p for p in out if p[0]]


def remove_distinct(sql):
    """The first statement (up to and including its ';'), DISTINCT keywords dropped (exec_eval's remove_distinct)."""
    out = ""
    for text, is_code in split_code(sql):
        if not is_code:
            out += text
            continue
        cut = text.find(";")
        part = text if cut < 0 else text[: cut + 1]
        out += re.sub(r"(?<![\w$.])distinct(?![\w$])", "", part, flags=re.IGNORECASE)
        if cut >= 0:
            break
    return out


def result_eq(a, b, order_matters):
    if not a and not b:
        return True
    if len(a) != len(b) or len(a[0]) != len(b[0]):
        return False
    unorder = lambda row: tuple(sorted(row, key=lambda x: str(x) + str(type(x))))
    ua, ub = [unorder(r) for r in a], [unorder(r) for r in b]
    if (ua != ub) if order_matters else (set(ua) != set(ub)):
        return False
    n = len(a[0])
    allowed = [set(range(n)) for _ in range(n)]
    if n > 3:  # the published code prunes with 20 sampled rows; pruning only drops mappings that fail
        col_values = [set(r[i] for r in a) for i in range(n)]
        for row in b:
            for i in range(n):
                allowed[i] = {j for j in allowed[i] if row[j] in col_values[i]}
    for mapping in itertools.product(*[sorted(s) for s in allowed]):
        mb = [tuple(row[j] for j in mapping) for row in b]
        if order_matters:
            if a == mb:
                return True
        elif set(a) == set(mb) and Counter(a) == Counter(mb):
            return True
    return False


def sql_r1_exec_status(db, pred, gold):
    pred, gold = [s.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=") for s in (pred, gold)]
    pred, gold = remove_distinct(pred), remove_distinct(gold)
    order_matters = "order by" in gold.lower()
    year = lambda s: re.sub(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", "2020", s, flags=re.IGNORECASE)
    g = run(db, year(gold))
    p = run(db, year(pred))
    if p[0] == "raise":
        return "Unexecutable", False
    if g[0] == "raise":
        return "Match", True  # the published code: `pred_passes == 3` compares instead of assigning
    return ("Match" if result_eq(g[1], p[1], order_matters) else "Mismatch"), False


def sql_r1(response, gold, db):
    think, answer, sql, ok = sql_r1_parts(response)
    terms = {"format": 1 if ok else -1, "execution": 0, "result": 0, "length": 0.0}
    status, gold_raised = None, False
    if ok:
        pred = re.sub(r"\s+", " ", sql)
        status, gold_raised = sql_r1_exec_status(db, pred, re.sub(r"\s+", " ", gold))
        terms["execution"] = {"Unexecutable": -2, "Mismatch": 2, "Match": 2}[status]
        terms["result"] = {"Unexecutable": 0, "Mismatch": -3, "Match": 3}[status]
        if status == "Match":
            L = len(think) + len(answer)
            terms["length"] = (L / 2048 * 0.5 if L <= 2048 else 0.5) + len(pred) / len(answer)
    total = terms["format"] + terms["execution"] + terms["result"] + terms["length"]
    return {"total": total, "terms": terms, "status": status, "gold_raised": gold_raised}


# ---------------------------------------------------------------------- Arctic

def arctic(response, gold, db):
    blocks = re.findall(r"```sql\s*(.*?)\s*```", response, re.DOTALL)
    sql = blocks[-1].strip() if blocks else ""
    if not sql:
        return {"total": 0.0, "status": "no_sql", "gold_raised": False}
    p, g = run(db, sql), run(db, gold)
    if p[0] == "raise":
        return {"total": 0.0, "status": "error", "gold_raised": g[0] == "raise"}
    if g[0] == "raise":
        return {"total": 0.0, "status": "gold_error", "gold_raised": True}
    return {"total": 1.0 if set(p[1]) == set(g[1]) else 0.1, "status": "match" if set(p[1]) == set(g[1]) else "mismatch", "gold_raised": False}


def main():
    items = json.load(sys.stdin)["items"]
    out = [{"id": it["id"], "sql_r1": sql_r1(it["response"], it["gold"], it["db"]), "arctic": arctic(it["response"], it["gold"], it["db"])} for it in items]
    json.dump({"results": out}, sys.stdout)


if __name__ == "__main__":
    main()
