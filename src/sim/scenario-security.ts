import { HorusNode } from '../api/node.js';
import { silentLogger, type LogFields, type Logger } from '../core/logger.js';
import { MemoryHistory, type HistoryEvent } from '../core/history.js';
import { endpointOf } from '../core/node-id.js';
import { nodeOfMember } from '../core/member-id.js';
import type { Rng } from '../core/rng.js';
import type { StackSpec } from '../stack/stack.js';
import type { ViolationList } from './checkers/violation.js';
import type { SimWorld } from './sim-world.js';

/** Bytes every workload payload of a secure run is made of: found on the wire only if CRYPT leaked it. */
const MARK = Buffer.from('horus-plaintext!');

/** Room left after the outsider's start for its refusal (virtual ms). */
const REFUSAL_ROOM_MS = 8000;

/** The code of the outsider's failed join, read off its log (the join promise settles only after the run). */
function joinFailureLogger(onCode: (code: string) => void): Logger {
  const log: Logger = {
    ...silentLogger,
    warn: (msg: string, fields?: LogFields) => {
      if (msg === 'join failed' && typeof fields?.['code'] === 'string') onCode(fields['code']);
    },
    child: () => log,
  };
  return log;
}

/**
 * The security half of `--faults all --security pki`: the group runs with CRYPT, a key per view and
 * a join ACL naming only the scenario's own nodes. This probe adds what the checkers of virtual
 * synchrony do not look at:
 * - an outsider with a valid identity that is not on the ACL asks to join, and must be refused
 *   with ERR_ACCESS_DENIED, soon, and never appear in a view;
 * - a tap on every frame delivered: the workload's plaintext must never be on the wire.
 * The intruder without an identity that forges frames is the stranger adversary (adversary.ts).
 */
export class SecurityProbe {
  private leaks = 0;
  private firstLeak = '';
  private outsider: { history: MemoryHistory; code: string | null } | null = null;

  constructor(
    private readonly world: SimWorld,
    private readonly group: string,
    private readonly rng: Rng,
  ) {}

  /** A workload payload of `n` bytes, made of the marker. */
  payload(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += MARK.length) MARK.copy(b, i, 0, Math.min(MARK.length, n - i));
    return b;
  }

  /** Tap the wire (after any adversary set its own hook) and schedule the outsider's join. */
  start(stack: StackSpec, contacts: () => string[], until: number): void {
    const prev = this.world.onDeliver;
    this.world.onDeliver = (from, to, bytes) => {
      prev?.(from, to, bytes);
      // Short payloads cannot show the marker whole; every payload of 16 bytes or more does.
      if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(MARK) && this.leaks++ === 0)
        this.firstLeak = `${from} -> ${to} at ${this.world.now().toFixed(1)}`;
    };
    const at = 1500 + this.rng.float() * Math.max(0, until - 1500 - REFUSAL_ROOM_MS);
    this.world.scheduler.schedule(at, () => {
      const sim = this.world.addNode('outsider:7000', '1');
      const o = { history: new MemoryHistory(), code: null as string | null };
      const node = new HorusNode({ ...sim.env, log: joinFailureLogger((code) => (o.code ??= code)) }, o.history);
      node.joinNow(this.group, { contacts: contacts(), stack }).ready.catch(() => {});
      this.outsider = o;
    });
  }

  check(events: readonly HistoryEvent[], violations: ViolationList): void {
    if (this.leaks > 0) violations.add('confidentiality', `${this.leaks} frames carried workload plaintext, first ${this.firstLeak}`);
    for (const e of events)
      if (e.k === 'view' && e.members.some((m) => endpointOf(nodeOfMember(m)) === 'outsider:7000')) {
        violations.add('access', `${e.node} installed view ${e.view} with the outsider in it`);
        break;
      }
    const o = this.outsider;
    if (o === null) return;
    const ended = o.history.events.find((e) => e.k === 'ended');
    if (ended === undefined || ended.k !== 'ended' || ended.how !== 'join-failed')
      violations.add('access', `the outsider's join did not fail (${ended?.k === 'ended' ? ended.how : 'still joining'})`);
    else if (o.code !== 'ERR_ACCESS_DENIED') violations.add('access', `the outsider's join failed with ${o.code ?? 'no code'}, not ERR_ACCESS_DENIED`);
  }
}
