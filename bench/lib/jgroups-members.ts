// JGroups at more than 3 members: the peer script (../shared/peers/jgroups/run.sh) starts exactly 3
// JVMs, while its Java driver (Bench.java) takes the member count as an argument. Issue 10 asks Horus
// to be ahead of JGroups "at every size", so the member-scaling comparison needs JGroups at 5 and 9
// too. Rather than keep a forked copy of the script here (which would drift from the peer's), the
// script is rewritten at run time in the few places that say "3"; every rewrite must match once, so a
// changed peer script fails loudly instead of silently running 3 members.

/** Thrown when the peer script no longer has a shape this rewrite knows. */
export class PeerScriptShapeError extends Error {
  readonly code = 'ERR_PEER_SCRIPT_SHAPE';
  constructor(what: string) {
    super(`jgroups run.sh: cannot make it run N members: ${what} not found (the peer script changed?)`);
  }
}

const REWRITES: readonly { what: string; from: string; to: string }[] = [
  // The script's own folder (Bench.java, the stack XMLs) stays the peer's, wherever the copy is run from.
  { what: 'HERE=', from: 'HERE=$(cd "$(dirname "$0")" && pwd)', to: 'HERE=${JGROUPS_PEER_DIR:?}\nN=${MEMBERS:?}' },
  { what: 'the port loops', from: 'for i in 0 1 2; do', to: 'for i in $(seq 0 $((N-1))); do' },
  {
    what: 'the initial hosts',
    from: 'hosts="127.0.0.1[$PORT_BASE],127.0.0.1[$((PORT_BASE+1))],127.0.0.1[$((PORT_BASE+2))]"',
    to: 'hosts=""; for i in $(seq 0 $((N-1))); do hosts="$hosts${hosts:+,}127.0.0.1[$((PORT_BASE+i))]"; done',
  },
  { what: 'the member count argument', from: 'Bench "$cfg" $i 3 "$mode"', to: 'Bench "$cfg" $i $N "$mode"' },
  { what: 'the full-view wait', from: "grep -c '^FULLVIEW')\" -ge 3 ]", to: "grep -c '^FULLVIEW')\" -ge $N ]" },
  { what: 'the result collection', from: 'grep -h \'^RESULT\' "${logs[0]}" "${logs[1]}" "${logs[2]}"', to: 'grep -h \'^RESULT\' "${logs[@]}"' },
  // Throughput only (the latency rounds ping every member in turn: minutes at 9 members).
  { what: 'the phase loop', from: 'for phase in tput lat; do', to: 'for phase in tput; do' },
];

/**
 * The peer's run.sh rewritten to start `MEMBERS` JVMs (environment) from the peer's folder
 * (`JGROUPS_PEER_DIR`), throughput rounds only. Throws PeerScriptShapeError if a rewrite finds nothing.
 */
export function jgroupsScriptForMembers(script: string): string {
  let out = script;
  for (const r of REWRITES) {
    if (!out.includes(r.from)) throw new PeerScriptShapeError(r.what);
    out = out.split(r.from).join(r.to);
  }
  return out;
}
