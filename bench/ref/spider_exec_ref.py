"""Reference timing for `npm run bench:eval`: the work the official Spider execution evaluator
(taoyds/test-suite-sql-eval, exec_eval.py, --etype exec) does per example, written out with the
standard library only: sequential, a fresh sqlite3 connection per query, DISTINCT stripped, bag
comparison with column permutations. It is a timing baseline, not a verdict oracle.
Usage: spider_exec_ref.py DEV_JSON DB_DIR PRED_FILE"""
import itertools, json, os, re, sqlite3, sys

def run(db, sql):
    conn = sqlite3.connect(db)
    conn.text_factory = lambda b: b.decode(errors="ignore")
    try:
        return True, conn.execute(sql).fetchall()
    except Exception as e:  # the official evaluator scores any exception as 0
        return False, e
    finally:
        conn.close()

def multiset_eq(a, b):
    if len(a) != len(b):
        return False
    counts = {}
    for x in a:
        counts[x] = counts.get(x, 0) + 1
    for x in b:
        if counts.get(x, 0) == 0:
            return False
        counts[x] -= 1
    return True

def result_eq(r1, r2, order_matters):
    if len(r1) == 0 and len(r2) == 0:
        return True
    if len(r1) != len(r2):
        return False
    n = len(r1[0])
    if len(r2[0]) != n:
        return False
    for perm in itertools.permutations(range(n)) if n <= 3 else [tuple(range(n))]:
        r2p = [tuple(row[i] for i in perm) for row in r2]
        if order_matters:
            if r1 == r2p:
                return True
        elif set(r1) == set(r2p) and multiset_eq(r1, r2p):
            return True
    return False

def strip_distinct(sql):
    return re.sub(r"\bdistinct\b", " ", sql, flags=re.I)

def main(dev_json, db_dir, pred_file):
    dev = json.load(open(dev_json))
    preds = [l.rstrip("\n").split("\t")[0] for l in open(pred_file)]
    correct = total = 0
    for ex, pred in zip(dev, preds):
        db = os.path.join(db_dir, ex["db_id"], ex["db_id"] + ".sqlite")
        if not os.path.exists(db):
            continue
        total += 1
        gold = strip_distinct(ex["query"])
        ok_g, g = run(db, gold)
        ok_p, p = run(db, strip_distinct(pred))
        if ok_g and ok_p and result_eq(g, p, "order by" in gold.lower()):
            correct += 1
    print(json.dumps({"evaluated": total, "correct": correct}))

if __name__ == "__main__":
    main(*sys.argv[1:4])
