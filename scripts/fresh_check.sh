#!/usr/bin/env bash
# Fresh-machine check: clone this repository into a temporary folder and run the README's two
# commands there as the README writes them (parsed from it by readme_commands.py, never copied
# here). The first makes a new virtual environment, installs and runs the sample job; the second
# runs the tests. A missing install step, a file that is not in git, or a README that drifted from
# the code fails here, even where the developer's own .venv hides it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cvalues-fresh.XXXXXX")
trap 'rm -rf "$work"' EXIT

git clone -q "$repo" "$work/cvalues"
# Every checkout has ../shared beside it (the real CValues prompts the tests read); so does this one.
if [ -d "$repo/../shared" ]; then
  ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"
fi
commands=()
while IFS= read -r -d '' cmd; do commands+=("$cmd"); done \
  < <(python3 "$repo/scripts/readme_commands.py" "$repo/README.md"; printf '\0')
[ "${#commands[@]}" -eq 2 ] || { echo "fresh check: expected the README's 2 commands" >&2; exit 1; }

cd "$work/cvalues"
echo "fresh check: cloned $(git rev-parse --short HEAD) into $work/cvalues (no .venv, no build output)"
names=("set up and run the sample job" "run the tests")
for i in 0 1; do
  echo "fresh check: command $((i + 1)) (${names[$i]}):"
  echo "  \$ ${commands[$i]}"
  start=$SECONDS
  bash -c "${commands[$i]}"
  echo "fresh check: command $((i + 1)) passed in $((SECONDS - start)) s"
done
test -f out/cvalues/README.md && test -f out/results/results.json
echo "fresh check: passed: a new clone and venv built the sample dataset ($(find out/cvalues/data -name '*.parquet' | wc -l) Parquet files), scored the demo model (out/results/results.json) and passed the tests"
