#!/usr/bin/env bash
# The namespace lab: a simulated RAN, the gateway and a data-network host.
#
#   ran netns                 gw netns (upfd here)                dn netns
#   <p>r0 10.100.0.2/24 ---- <p>n3 10.100.0.1/24 | <p>n6 10.200.0.1/24 ---- <p>d0 10.200.0.2/24
#   (sends GTP-U to 10.100.0.1:2152)                       (route 10.45.0.0/16 via 10.200.0.1)
#
# Usage: lab.sh up ID [native|generic]   creates namespaces mupf-ID-{ran,gw,dn}
#        lab.sh down ID                  removes them (and pinned pass programs)
#        lab.sh names ID                 prints the names as shell variables
# ID: 1-6 characters [a-z0-9]; interface names are mu<ID>{r0,n3,n6,d0}.
# In native mode the veth peers get a pass-everything XDP program (veth drops
# XDP_TX/REDIRECT frames toward a peer without one), attached with
# `mupf-lab xdp-pass` and pinned under /sys/fs/bpf/mvno-upf-lab/ID.
set -euo pipefail

cmd=${1:-}; id=${2:-}
[[ "$id" =~ ^[a-z0-9]{1,6}$ ]] || { echo "lab.sh: ID must be 1-6 characters [a-z0-9], got '$id'" >&2; exit 2; }
ran="mupf-$id-ran"; gw="mupf-$id-gw"; dn="mupf-$id-dn"
r0="mu${id}r0"; n3="mu${id}n3"; n6="mu${id}n6"; d0="mu${id}d0"
pins="/sys/fs/bpf/mvno-upf-lab/$id"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
lab_tool=${MUPF_LAB:-$here/target/debug/mupf-lab}

down() {
  rm -rf "$pins" 2>/dev/null || true
  for ns in "$ran" "$gw" "$dn"; do
    ip netns del "$ns" 2>/dev/null || true
  done
}

case "$cmd" in
  names)
    echo "RAN_NS=$ran GW_NS=$gw DN_NS=$dn RAN_IF=$r0 N3_IF=$n3 N6_IF=$n6 DN_IF=$d0"
    ;;
  down)
    down
    ;;
  up)
    mode=${3:-generic}
    [ "$(id -u)" = 0 ] || { echo "lab.sh: must run as root (creates network namespaces)" >&2; exit 1; }
    command -v ethtool >/dev/null || { echo "lab.sh: ethtool is missing (run scripts/setup.sh)" >&2; exit 1; }
    down
    trap 'down' ERR
    # A bpffs the gateway's daemon can pin in: `ip netns exec` mounts a
    # fresh /sys, hiding /sys/fs/bpf, but leaves /run as it is.
    # Labs come up in parallel: one mount, under a lock (two would stack,
    # and pins made in the lower one would vanish from sight).
    mkdir -p /run/mupf-bpf
    (
      flock 9
      mountpoint -q /run/mupf-bpf || mount -t bpf bpf /run/mupf-bpf
    ) 9>/run/mupf-bpf.lock
    for ns in "$ran" "$gw" "$dn"; do ip netns add "$ns"; done
    ip link add "$r0" netns "$ran" type veth peer name "$n3" netns "$gw"
    ip link add "$n6" netns "$gw" type veth peer name "$d0" netns "$dn"
    # Fixed MACs keep captures readable.
    ip -n "$ran" link set "$r0" address 02:00:00:00:01:02
    ip -n "$gw" link set "$n3" address 02:00:00:00:01:01
    ip -n "$gw" link set "$n6" address 02:00:00:00:02:01
    ip -n "$dn" link set "$d0" address 02:00:00:00:02:02
    ip -n "$ran" addr add 10.100.0.2/24 dev "$r0"
    ip -n "$gw" addr add 10.100.0.1/24 dev "$n3"
    ip -n "$gw" addr add 10.200.0.1/24 dev "$n6"
    ip -n "$dn" addr add 10.200.0.2/24 dev "$d0"
    for ns in "$ran" "$gw" "$dn"; do ip -n "$ns" link set lo up; done
    ip -n "$ran" link set "$r0" up
    ip -n "$gw" link set "$n3" up
    ip -n "$gw" link set "$n6" up
    ip -n "$dn" link set "$d0" up
    ip -n "$dn" route add 10.45.0.0/16 via 10.200.0.1
    ip netns exec "$gw" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$gw" sysctl -qw net.ipv4.conf.all.rp_filter=0
    ip netns exec "$gw" sysctl -qw "net.ipv4.conf.$n3.rp_filter=0"
    # veth does not compute checksums on transmit; packets that cross XDP
    # would keep an unfinished checksum. Real NICs finish it in hardware.
    ip netns exec "$ran" ethtool -K "$r0" tx off >/dev/null
    ip netns exec "$dn" ethtool -K "$d0" tx off >/dev/null
    if [ "$mode" = native ]; then
      [ -x "$lab_tool" ] || { echo "lab.sh: $lab_tool not built (cargo build --workspace --bins)" >&2; exit 1; }
      mount | grep -q ' /sys/fs/bpf type bpf' || mount -t bpf bpf /sys/fs/bpf
      mkdir -p "$pins"
      nsenter --net="/run/netns/$ran" "$lab_tool" xdp-pass --iface "$r0" --pin "$pins/r0" >/dev/null
      nsenter --net="/run/netns/$dn" "$lab_tool" xdp-pass --iface "$d0" --pin "$pins/d0" >/dev/null
    fi
    trap - ERR
    ;;
  *)
    echo "usage: lab.sh up ID [native|generic] | down ID | names ID" >&2
    exit 2
    ;;
esac
