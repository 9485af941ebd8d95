#!/usr/bin/env bash
# A three-server NATS JetStream cluster on loopback, for the JetStream store's tests, its benchmark and trying
# it out (docs/jetstream.md). Each server keeps its JetStream file storage in DIR/nN.
#   scripts/nats-cluster.sh start DIR [BASE_PORT]   clients connect to BASE_PORT, +1, +2 (default 14222);
#                                                   routes use BASE_PORT+8000.. (both below Linux's ephemeral ports); waits until JetStream answers
#   scripts/nats-cluster.sh stop DIR                 stops the three servers (SIGTERM, then SIGKILL after 10 s)
#   scripts/nats-cluster.sh urls DIR                 prints the client URLs, comma-separated
#   scripts/nats-cluster.sh kill|term|stopsig|cont|restart DIR N   signals server N (1..3) / restarts it;
#                                                   term waits (up to 30 s) until the server has shut down
# Installs nats-server with apt when it is missing.
set -euo pipefail
cmd=${1:?usage: nats-cluster.sh start|stop|urls|kill|term|stopsig|cont|restart DIR [BASE_PORT|N]}
dir=${2:?the cluster directory}
if ! command -v nats-server >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi

base() { cat "$dir/base_port"; }
urls() { local b; b=$(base); echo "nats://127.0.0.1:$b,nats://127.0.0.1:$((b + 1)),nats://127.0.0.1:$((b + 2))"; }

# Whether process PID runs (an exited server its parent has not reaped yet does not).
alive() { local st; st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }

start_one() {
  local n=$1
  nats-server -c "$dir/n$n.conf" >>"$dir/n$n.log" 2>&1 &
  echo $! >"$dir/n$n.pid"
}

case "$cmd" in
  start)
    b=${3:-14222}
    mkdir -p "$dir"
    echo "$b" >"$dir/base_port"
    for n in 1 2 3; do
      routes=""
      for m in 1 2 3; do
        [ "$m" = "$n" ] && continue
        routes="$routes${routes:+, }nats-route://127.0.0.1:$((b + 7999 + m))"
      done
      cat >"$dir/n$n.conf" <<CONF
server_name: otinish-n$n
listen: 127.0.0.1:$((b + n - 1))
jetstream { store_dir: "$dir/n$n", max_file_store: 2G, max_memory_store: 64M }
cluster {
  name: otinish
  listen: 127.0.0.1:$((b + 7999 + n))
  routes: [$routes ]
}
CONF
      start_one "$n"
    done
    # JetStream answers once the servers elected a meta leader (a few seconds).
    for _ in $(seq 150); do
      ok=1
      for n in 1 2 3; do
        grep -q "JetStream cluster new metadata leader\|Self is new JetStream cluster metadata leader" "$dir/n$n.log" 2>/dev/null || ok=0
      done
      [ "$ok" = 1 ] && break
      for n in 1 2 3; do kill -0 "$(cat "$dir/n$n.pid")" 2>/dev/null || { echo "nats-cluster.sh: server $n exited; see $dir/n$n.log" >&2; tail -3 "$dir/n$n.log" >&2; exit 1; }; done
      sleep 0.2
    done
    [ "$ok" = 1 ] || { echo "nats-cluster.sh: no JetStream meta leader after 30 s; logs in $dir" >&2; exit 1; }
    urls
    ;;
  stop)
    for n in 1 2 3; do
      [ -f "$dir/n$n.pid" ] && kill -CONT "$(cat "$dir/n$n.pid")" 2>/dev/null && kill -TERM "$(cat "$dir/n$n.pid")" 2>/dev/null || true
    done
    for n in 1 2 3; do
      [ -f "$dir/n$n.pid" ] || continue
      pid=$(cat "$dir/n$n.pid")
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$dir/n$n.pid"
    done
    ;;
  urls) urls ;;
  kill|term|stopsig|cont)
    n=${3:?server number 1..3}
    sig=$(case "$cmd" in kill) echo KILL ;; term) echo TERM ;; stopsig) echo STOP ;; cont) echo CONT ;; esac)
    pid=$(cat "$dir/n$n.pid")
    kill "-$sig" "$pid"
    if [ "$cmd" = term ]; then
      for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
      ! alive "$pid" || { echo "nats-cluster.sh: server $n still running 30 s after SIGTERM" >&2; exit 1; }
    fi
    ;;
  restart)
    n=${3:?server number 1..3}
    start_one "$n"
    ;;
  *) echo "nats-cluster.sh: unknown command $cmd" >&2; exit 2 ;;
esac
