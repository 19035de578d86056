# Helpers for driving `alignuq tui` in tmux (sourced by tui_tmux_e2e.sh and console_tour.sh).
# The caller sets SESSION (the tmux session) before using them.

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
