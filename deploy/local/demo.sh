#!/usr/bin/env bash
# The local playground: backlog-scaler sizing a pool of local workers that
# drain an emulated SQS queue. Needs only Rust and Python 3.
#
#   deploy/local/demo.sh [--duration SECONDS] [--pattern NAME:SECONDS:RATE,...]
#                        [--message-time SECONDS] [--workdir DIR] [--quick]
#
# It installs the AWS emulator (moto) into .venv if needed, starts it on a free
# loopback port, creates a queue, a cluster and a worker service, then starts
# a load generator, a worker pool that follows the service's desired count,
# and `backlog-scaler run`, and prints a live view until --duration is over or
# you press Ctrl-C. Everything it started is stopped on the way out.
#
# --quick is the short run the end-to-end test uses: a smaller burst, faster
# polls, and it ends as soon as the queue is drained and the service is back
# at its minimum. BACKLOG_SCALER_BIN runs a binary you built instead of
# building the release binary; BACKLOG_SCALER_VENV picks another virtualenv.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${BACKLOG_SCALER_VENV:-$root/.venv}

# The demo's defaults: about two minutes with a clear burst in the middle.
duration=120
pattern="quiet:15:0.5,burst:40:12,quiet:65:0.5"
message_time=0.5
target_backlog_per_task=10
min_tasks=1
max_tasks=8
poll_interval=2s
stabilization_window=20s
stop_when_settled=false
workdir=""

usage() { sed -n '2,17s/^# \{0,1\}//p' "$0"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --pattern) pattern=$2; shift 2 ;;
    --message-time) message_time=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --quick)
      duration=100
      pattern="quiet:3:0,burst:12:15,quiet:5:0"
      message_time=0.25
      max_tasks=6
      poll_interval=1s
      stabilization_window=5s
      stop_when_settled=true
      shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# Only the emulator, whatever AWS settings the calling shell has.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export RUST_LOG=${RUST_LOG:-info}

# shellcheck source=scripts/emulator.sh
source "$root/scripts/emulator.sh"
ensure_emulator "$venv"
py="$venv/bin/python"

if [ -n "${BACKLOG_SCALER_BIN:-}" ]; then
  bin=$BACKLOG_SCALER_BIN
else
  echo "==> cargo build --release"
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin backlog-scaler
  bin=${CARGO_TARGET_DIR:-$root/target}/release/backlog-scaler
fi

if [ -z "$workdir" ]; then
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/backlog-scaler-demo.XXXXXX")
fi
mkdir -p "$workdir/policies"

# Processes this script started, stopped in reverse order: the producer and
# the controller first, then the workers (which finish their messages), the
# emulator last.
started_pids=()
start() {
  local name=$1; shift
  "$@" >"$workdir/$name.log" 2>&1 &
  started_pids+=($!)
}

# shellcheck disable=SC2329 # called from cleanup, which the EXIT trap runs
stop_pid() {
  local pid=$1 grace=$2
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2329 # run by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  local i
  for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
    stop_pid "${started_pids[$i]}" 15
  done
  echo "logs, timeline.csv and summary.json are in $workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The emulator binds port 0 and says which port it got in its log (" *
# Running on http://127.0.0.1:PORT"): no window for another process to take
# a port probed in advance.
echo "==> starting the AWS emulator"
start moto "$venv/bin/moto_server" -H 127.0.0.1 -p 0
moto_pid=$!
deadline=$((SECONDS + 30))
port=""
until [ -n "$port" ]; do
  port=$(sed -n 's|.*Running on http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$workdir/moto.log" | head -n 1)
  if [ -z "$port" ]; then
    if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$moto_pid" 2>/dev/null; then
      echo "demo.sh: the emulator did not start; see $workdir/moto.log" >&2
      exit 1
    fi
    sleep 0.1
  fi
done
endpoint="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL=$endpoint
echo "==> the AWS emulator serves $endpoint"

echo "==> creating queue demo-jobs, cluster demo, service workers (desired $min_tasks)"
"$py" "$here/seed.py" --endpoint "$endpoint" --desired "$min_tasks" >/dev/null

cat >"$workdir/policies/demo.yaml" <<YAML
# Written by deploy/local/demo.sh for the emulated world it creates.
name: demo-workers
cluster: demo
service: workers
queues: [demo-jobs]
target_backlog_per_task: $target_backlog_per_task
min_tasks: $min_tasks
max_tasks: $max_tasks
poll_interval: $poll_interval
scale_in:
  stabilization_window: $stabilization_window
YAML

echo "==> starting workers ($message_time s per message), load ($pattern) and the controller"
start workers "$py" "$here/workers.py" --endpoint "$endpoint" --message-time "$message_time" --status "$workdir/workers.json"
# Every decision at every poll (holds are DEBUG by default): the view
# shows the latest one.
start controller "$bin" run --policies "$workdir/policies" --endpoint-url "$endpoint" --log-format json \
  --log-level info,backlog_scaler::controller::worker=debug
controller_pid=$!
start loadgen "$py" "$here/loadgen.py" --endpoint "$endpoint" --pattern "$pattern" --status "$workdir/loadgen.json"

view_args=(--endpoint "$endpoint" --workdir "$workdir" --duration "$duration"
  --min-tasks "$min_tasks" --controller-pid "$controller_pid")
if [ "$stop_when_settled" = true ]; then view_args+=(--stop-when-settled); fi
view_rc=0
"$py" "$here/view.py" "${view_args[@]}" || view_rc=$?

if ! kill -0 "$controller_pid" 2>/dev/null; then
  echo "demo.sh: the controller exited early; the end of $workdir/controller.log:" >&2
  tail -n 20 "$workdir/controller.log" >&2
fi
exit "$view_rc"
