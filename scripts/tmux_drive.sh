# What the scripts driving `alignuq tui` in tmux share (sourced by tui_tmux_e2e.sh and
# console_tour.sh): where alignuq, python and the data are, and helpers. The caller sets ROOT
# (the checkout) before sourcing, and SESSION (the tmux session) before using the helpers.

ALIGNUQ="${ALIGNUQ:-$ROOT/.venv/bin/alignuq}"
PY="${PY:-$ROOT/.venv/bin/python}"
DATA="${ALIGNUQ_TEST_DATA:-$ROOT/../shared/data}"
SAMPLE="$DATA/samples/roper_topline_sample.txt"

# the screen as text
screen() { tmux capture-pane -p -t "$SESSION" 2>/dev/null || true; }

fail() {
  echo "FAIL: $*" >&2
  echo "----- screen -----" >&2
  screen >&2
  exit 1
}

# wait_for TEXT [SECONDS]: until the captured screen contains TEXT (fixed string)
wait_for() {
  local text="$1" limit="${2:-30}" waited=0
  while ! screen | grep -qF -- "$text"; do
    sleep 0.5
    waited=$((waited + 1))
    [ "$waited" -lt $((limit * 2)) ] || fail "no '$text' on screen after ${limit}s"
  done
  echo "ok: '$text'"
}

keys() { tmux send-keys -t "$SESSION" "$@"; sleep 0.3; }
type_text() { tmux send-keys -t "$SESSION" -l "$1"; sleep 0.3; }
