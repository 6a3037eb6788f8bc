// The JGroups peer script rewritten to start N members: every place that says 3 changes, and a
// script of another shape is refused rather than run at 3 members.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jgroupsScriptForMembers, PeerScriptShapeError } from '../../bench/lib/jgroups-members.js';

// The lines of ../shared/peers/jgroups/run.sh that the rewrite touches, as that script has them.
const SCRIPT = `#!/usr/bin/env bash
HERE=$(cd "$(dirname "$0")" && pwd)
run_cluster() {
  for i in 0 1 2; do
    if ss -H -tln "sport = :$((PORT_BASE+i))" | grep -q .; then echo busy; return 1; fi
  done
  hosts="127.0.0.1[$PORT_BASE],127.0.0.1[$((PORT_BASE+1))],127.0.0.1[$((PORT_BASE+2))]"
  for i in 0 1 2; do
    java -cp "$JAR:$WORK/classes" Bench "$cfg" $i 3 "$mode" $args > "\${logs[$i]}" 2>&1 &
  done
  for _ in $(seq 1 300); do
    [ "$(cat "\${logs[@]}" | grep -c '^FULLVIEW')" -ge 3 ] && break
  done
  grep -h '^RESULT' "\${logs[0]}" "\${logs[1]}" "\${logs[2]}" > "$WORK/results"
}
for mode in $MODES; do
    for phase in tput lat; do
      run_cluster "$mode" 1 "$phase"
    done
done
`;

describe('JGroups at N members', () => {
  it('starts N JVMs from the peer folder and collects all their results, throughput only', () => {
    const out = jgroupsScriptForMembers(SCRIPT);
    assert.match(out, /^HERE=\$\{JGROUPS_PEER_DIR:\?\}\nN=\$\{MEMBERS:\?\}$/m);
    assert.equal(out.match(/for i in \$\(seq 0 \$\(\(N-1\)\)\); do/g)?.length, 3, 'both port loops and the hosts list');
    assert.match(out, /Bench "\$cfg" \$i \$N "\$mode"/);
    assert.match(out, /grep -c '\^FULLVIEW'\)" -ge \$N \]/);
    assert.match(out, /grep -h '\^RESULT' "\$\{logs\[@\]\}"/);
    assert.match(out, /for phase in tput; do/);
    assert.doesNotMatch(out, / 3 "\$mode"|0 1 2|-ge 3 |logs\[2\]/, 'nothing of the 3-member shape is left');
  });
  it('refuses a script whose shape it does not know', () => {
    assert.throws(
      () => jgroupsScriptForMembers(SCRIPT.replace('Bench "$cfg" $i 3', 'Bench "$cfg" $i 4')),
      (e: unknown) => e instanceof PeerScriptShapeError && e.code === 'ERR_PEER_SCRIPT_SHAPE' && /member count/.test(e.message),
    );
  });
});
