/** The figures of one large-scenario seed (src/sim/scenario-large.ts). */
export interface LargeFigures {
  nodes: number;
  formMs: number;
  reformMs: number;
  viewChanges: number;
  idleFramesPerInterval: number;
  viewChangeFrames: number;
  sent: number;
  delivered: number;
}

/** One line: what `npm run sim -- --scenario large` prints per seed. */
export function largeSummaryOf(r: LargeFigures): string {
  const perChange = r.viewChanges > 0 ? Math.round(r.viewChangeFrames / r.viewChanges) : r.viewChangeFrames;
  return (
    `${r.nodes} nodes, formed in ${Math.round(r.formMs)} ms, re-formed ${Math.round(r.reformMs)} ms after the crash in ${r.viewChanges} view change(s), ` +
    `${perChange} frames per view change (${(perChange / r.nodes).toFixed(1)} per member), idle ${Math.round(r.idleFramesPerInterval)} frames per heartbeat interval, ` +
    `${r.sent} sent, ${r.delivered} delivered`
  );
}
