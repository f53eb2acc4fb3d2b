"""Runs SQL-R1's own compute_score (the unmodified files in shared/reference/sql-r1) on the items given.

Usage: run_sql_r1.py REFERENCE_DIR SPIDER_DATABASE_DIR < {"items": [{"id", "response", "gold", "db_id"}]}
Needs the reference's pip dependencies (func_timeout, sqlparse). The files are copied into a temporary
package (they use relative imports) and run from a folder where their hard-coded database path
(data/NL2SQL/SynSQL-2.5M/databases/<db>/<db>.sqlite) points at Spider's databases. compute_score reads the
response after the assistant header, so each response is given after '<|im_start|>assistant\\n'. It prints
every term; they are read back from its output.
"""
import contextlib
import importlib
import io
import json
import os
import re
import shutil
import sys
import tempfile


def main():
    ref_dir, db_dir = sys.argv[1], os.path.abspath(sys.argv[2])
    items = json.load(sys.stdin)["items"]
    work = tempfile.mkdtemp(prefix="sqlr1-ref-")
    try:
        pkg = os.path.join(work, "sqlr1_reference")
        os.makedirs(pkg)
        for name in ("synsql.py", "exec_eval.py", "parse.py"):
            shutil.copy(os.path.join(ref_dir, name), pkg)
        open(os.path.join(pkg, "__init__.py"), "w").close()
        os.makedirs(os.path.join(work, "data", "NL2SQL", "SynSQL-2.5M"))
        os.symlink(db_dir, os.path.join(work, "data", "NL2SQL", "SynSQL-2.5M", "databases"))
        os.chdir(work)
        sys.path.insert(0, work)
        synsql = importlib.import_module("sqlr1_reference.synsql")
        results = []
        for it in items:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                total = synsql.compute_score("<|im_start|>assistant\n" + it["response"], {"db_id": it["db_id"], "sql": it["gold"]})
            text = printed.getvalue()
            term = lambda name: float(re.search(r"-- %s Score: (\S+)" % name, text).group(1))
            status = re.search(r"\[Exec status\]: (\S+)", text)
            results.append({
                "id": it["id"],
                "total": total,
                "terms": {"format": term("Format"), "execution": term("Exec"), "result": term("Result"), "length": term("Length")},
                "status": status.group(1) if status else None,
            })
        json.dump({"results": results}, sys.__stdout__)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
