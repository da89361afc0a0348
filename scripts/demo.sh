#!/usr/bin/env bash
# The main job as a self-contained demo: installs what is missing, builds,
# creates the namespace lab (simulated RAN, gateway, data-network host), runs
# upfd with three static subscribers (two 5G, one 4G), sends real GTP-U
# through it and prints per-direction and per-session counters, then the
# peak-hour meter: /metrics and the capacity report of a POI whose history is
# a synthetic 2.5 years (upfctl synth) and whose today is the live traffic.
#
#   scripts/demo.sh            native XDP (driver mode on veth)
#   MODE=generic scripts/demo.sh
#   PACKETS=200 scripts/demo.sh
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
mode=${MODE:-native}
packets=${PACKETS:-50}
id=demo

bash scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
echo "== building (first build compiles the XDP program with the nightly toolchain)"
cargo build -q -p upfd -p upfctl -p mvno-upf-tests
bin=$here/target/debug
eval "$(bash scripts/lab.sh names $id)"

upfd_pid=""; echo_pid=""
cleanup() {
  [ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null || true
  if [ -n "$upfd_pid" ] && kill -0 "$upfd_pid" 2>/dev/null; then
    kill -TERM "$upfd_pid"; wait "$upfd_pid" 2>/dev/null || true
  fi
  bash scripts/lab.sh down $id
}
trap cleanup EXIT

echo "== lab: $RAN_NS (RAN 10.100.0.2) -- $GW_NS (gateway, XDP $mode) -- $DN_NS (DN host 10.200.0.2)"
MUPF_LAB=$bin/mupf-lab bash scripts/lab.sh up $id "$mode"
work=$(mktemp -d /tmp/mvno-upf-demo.XXXXXX)
sed -e "s/@ID@/$id/g; s/@MODE@/$mode/; s|@SESSIONS@|$here/configs/sessions.toml|; s|@METER_DB@|$work/meter.db|" configs/lab.toml > "$work/upf.toml"
sock=/run/mvno-upf/$id.sock
# The demo's POI: the lab's RAN stands for docomo's side of the interconnect.
cat >> "$work/upf.toml" <<'TOML'

[[poi]]
name = "docomo"
peers = ["10.100.0.0/24"]
capacity_ul_mbps = 200
capacity_dl_mbps = 1500
host = "docomo"
fiscal_year = [
  { fy = 2024, capacity_mbps = 1200, demand_mbps = 1000 },
  { fy = 2025, capacity_mbps = 1400, demand_mbps = 1200 },
  { fy = 2026, capacity_mbps = 1500, demand_mbps = 1300 },
]
TOML
echo "== meter history: a synthetic 2.5 years of docomo POI traffic (upfctl synth) before today's live traffic"
yesterday=$(TZ=Asia/Tokyo date -d yesterday +%F)
"$bin/upfctl" synth --config "$work/upf.toml" --poi docomo --from 2024-04-01 --to "$yesterday" \
  --peak-mbps 700 --growth 0.2 | sed 's/^/  /'

ip netns exec "$GW_NS" "$bin/upfd" --config "$work/upf.toml" > "$work/upfd.log" 2>&1 &
upfd_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; kill -0 $upfd_pid 2>/dev/null || break; sleep 0.1; done
if [ ! -S "$sock" ]; then cat "$work/upfd.log"; echo "upfd did not start" >&2; exit 1; fi
sed 's/^/  upfd: /' "$work/upfd.log"

ip netns exec "$DN_NS" "$bin/mupf-lab" dn-echo --bind 10.200.0.2:7777 &
echo_pid=$!
sleep 0.3

echo "== GTP-U echo (answered in XDP)"
ip netns exec "$RAN_NS" "$bin/mupf-lab" echo --bind 10.100.0.2 --gw 10.100.0.1 | sed 's/^/  /'

ok=1
run() { # name teid ue remote_teid extra...
  local name=$1 teid=$2 ue=$3 rteid=$4; shift 4
  printf '  %-34s ' "$name"
  if ! ip netns exec "$RAN_NS" "$bin/mupf-lab" ran --bind 10.100.0.2 --gw 10.100.0.1 \
      --teid "$teid" --ue "$ue" --dst 10.200.0.2:7777 --expect-teid "$rteid" \
      --count "$packets" --size 200 --interval-ms 2 "$@"; then
    ok=0
  fi
}
echo "== $packets packets per subscriber, UE -> DN host -> UE, through the gateway"
run "subscriber 1 (5G, QFI 9)" 0x100 10.45.0.1 0x1001 --container --qfi 9
run "subscriber 2 (5G, QFI 5)" 0x101 10.45.0.2 0x1002 --container --qfi 5
run "subscriber 3 (4G)" 0x102 10.45.0.3 0x1003
run "subscriber 3 (4G, ICMP)" 0x102 10.45.0.3 0x1003 --proto icmp
echo "== the gateway drops what it must"
printf '  %-34s ' "unknown TEID 0x999"
ip netns exec "$RAN_NS" "$bin/mupf-lab" ran --bind 10.100.0.2 --gw 10.100.0.1 --teid 0x999 \
  --ue 10.45.0.1 --dst 10.200.0.2:7777 --count 3 --timeout-ms 500 --expect-none || ok=0
printf '  %-34s ' "spoofed inner source"
ip netns exec "$RAN_NS" "$bin/mupf-lab" ran --bind 10.100.0.2 --gw 10.100.0.1 --teid 0x100 \
  --ue 10.45.0.1 --src 10.45.9.9 --dst 10.200.0.2:7777 --count 3 --timeout-ms 500 --expect-none || ok=0

echo "== PFCP: the lab SMF (RAN namespace) programs two more sessions over N4, sends traffic, reads usage, deletes"
ip netns exec "$RAN_NS" "$bin/mupf-smf" --bind 10.100.0.2 --upf 10.100.0.1 --count "$packets" || ok=0

echo "== Prometheus: GET /metrics (POI traffic lines)"
ip netns exec "$GW_NS" python3 -c "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9464/metrics',timeout=5).read().decode())" \
  | grep -E '^mupf_poi_(bytes_total|sessions)' | sed 's/^/  /' || ok=0

echo "== peak-hour report of the docomo POI, this fiscal year (today's hour is the live traffic)"
"$bin/upfctl" report --config "$work/upf.toml" --poi docomo --dir dl | sed -n '1,60p' | sed 's/^/  /' || ok=0
"$bin/upfctl" report --config "$work/upf.toml" --poi docomo --dir dl --format html -o "$work/report.html" || ok=0
echo "  the whole report as HTML: $work/report.html (CSV and JSON: --format csv|json)"

echo "== upfctl stats"
"$bin/upfctl" --socket "$sock" stats | sed 's/^/  /'
if [ $ok = 1 ]; then echo "== demo ok"; else echo "== demo FAILED" >&2; exit 1; fi
