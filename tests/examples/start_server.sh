# Sourced by the example tests: with $otinish and $work set, makes a fresh data directory in $work/data with an
# operator token ($token) and a key-encryption key beside it ($work/kek), starts `otinish serve` on a free loopback port ($server: its pid, $port; the log in
# $work/serve.log) and kills it if the test exits early.
rm -rf "$work" && mkdir -p "$work"
token=$("$otinish" token create --data "$work/data" --role operator | grep -o 'otn_[0-9a-f_]*' | head -1)
"$otinish" keys generate --out "$work/kek" --data "$work/data" > /dev/null
"$otinish" serve --data "$work/data" --listen 127.0.0.1:0 --kek "file:$work/kek" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
port=""
for _ in $(seq 100); do
  port=$(grep -o '"address":"127.0.0.1:[0-9]*' "$work/serve.log" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start"; cat "$work/serve.log"; exit 1; }
