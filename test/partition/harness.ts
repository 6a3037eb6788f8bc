// A partition lab with real processes: one Horus node per network namespace (see ../../bench/lib/netns.ts),
// each driven over IPC (../helpers/member-process.ts) and recording its HistoryEvents to a file. The
// harness cuts and heals links, kills and pauses processes (recording 'crash'/'pause'/'resume' in a
// file of its own), waits for views, and reads the timings and the checkers' verdicts from the histories.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryEvent } from '../../src/core/history.js';
import type { LogLevel } from '../../src/core/logger.js';
import { nodeOfMember } from '../../src/core/member-id.js';
import { checkOrder } from '../../src/sim/checkers/order.js';
import { checkNoTwoPrimaries } from '../../src/sim/checkers/primaries.js';
import { ViolationList } from '../../src/sim/checkers/violation.js';
import { checkVirtualSynchrony } from '../../src/sim/checkers/vsync.js';
import { forkMemberIn, withTimeout, type Member } from '../helpers/cluster.js';
import type { DynStatus } from '../helpers/member-process.js';
import { NetLab, type CutMode } from '../../bench/lib/netns.js';
import { checkClockAgreement, mergeHistories, readHistory } from './history.js';
import { wallNow } from '../../src/obs/wall-clock.js';

export const PORT = 7000;
export { wallNow };
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LabOptions {
  hosts: number;
  group?: string;
  cut?: CutMode;
  logLevel?: LogLevel;
  /** Where histories and logs go (default: a new temporary directory). */
  dir?: string;
  /**
   * Run the members under `nice -n <nice>` (root may give a negative value): on a machine shared with
   * CPU-bound work, a starved event loop misses heartbeats and the test measures the machine instead.
   */
  nice?: number;
}

type ViewEv = Extract<HistoryEvent, { k: 'view' }>;

/** A view every given process installed, and when the last of them did. */
export interface AgreedView {
  id: number;
  members: string[];
  /** Wall-clock ms at which the last of the processes installed it. */
  at: number;
}

export class PartitionLab {
  readonly members: Member[] = [];
  readonly files: string[];
  readonly harnessFile: string;
  readonly group: string;
  readonly marks: string[] = [];
  readonly t0 = wallNow();
  private readonly logFds: number[] = [];
  private closed = false;

  private constructor(
    readonly net: NetLab,
    readonly dir: string,
    private readonly opts: LabOptions,
  ) {
    this.group = opts.group ?? 'g';
    this.files = net.hosts.map((h) => join(dir, `member-${h.index}.jsonl`));
    this.harnessFile = join(dir, 'harness.jsonl');
    writeFileSync(this.harnessFile, '');
  }

  /** Makes the namespaces and forks one member process in each (not listening yet). */
  static async create(opts: LabOptions): Promise<PartitionLab> {
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'horus-partition-'));
    const net = await NetLab.create({ hosts: opts.hosts, ...(opts.cut !== undefined ? { cut: opts.cut } : {}) });
    const lab = new PartitionLab(net, dir, opts);
    for (const h of net.hosts) {
      const fd = openSync(join(dir, `member-${h.index}.log`), 'a');
      lab.logFds.push(fd);
      const prefix = [...net.exec(h.index), ...(opts.nice !== undefined ? ['nice', '-n', String(opts.nice)] : [])];
      lab.members.push(forkMemberIn(h.index, prefix, { logFd: fd }));
    }
    return lab;
  }

  get size(): number {
    return this.members.length;
  }

  endpoint(i: number): string {
    return `${this.net.hosts[i]!.addr}:${PORT}`;
  }

  /** ms since the lab started, for notes. */
  elapsed(at = wallNow()): string {
    return `${((at - this.t0) / 1000).toFixed(1)}s`;
  }

  mark(what: string): void {
    this.marks.push(`${this.elapsed()} ${what}`);
  }

  /** Starts the node in process i, listening on its lab address, with every other host as a seed. */
  async listen(i: number, seeds?: string[]): Promise<void> {
    await this.members[i]!.listen({
      host: this.net.hosts[i]!.addr,
      port: PORT,
      logLevel: this.opts.logLevel ?? 'warn',
      // The harness reads no stats: keep the IPC quiet.
      statsIntervalMs: 5000,
      seeds: seeds ?? this.net.hosts.filter((h) => h.index !== i).map((h) => this.endpoint(h.index)),
      historyFile: this.files[i]!,
    });
  }

  async join(i: number, o: { create?: boolean; api?: 'join' | 'joinNow'; timeoutMs?: number; lookupTimeoutMs?: number } = {}): Promise<void> {
    await this.members[i]!.request<'djoin'>({ cmd: 'djoin', group: this.group, state: 'names', ...o });
  }

  live(): number[] {
    return this.members.flatMap((m, i) => (m.alive ? [i] : []));
  }

  /** Statuses of the given processes (not of stopped ones: they cannot answer). */
  async status(ix: readonly number[], timeoutMs = 10_000): Promise<DynStatus[]> {
    return Promise.all(ix.map((i) => withTimeout(this.members[i]!.request<'status'>({ cmd: 'status' }), timeoutMs, `status of member ${i}`)));
  }

  async describe(ix: readonly number[] = this.live()): Promise<string> {
    const running = ix.filter((i) => !this.members[i]!.stopped);
    try {
      const st = await this.status(running);
      return st
        .map(
          (s, k) =>
            `#${running[k]} ${s.memberId.replace(/:7000\/\w+/, '')} view ${s.view.id} [${s.view.members.length}] blocked [${s.blockedReasons}] excluded ${s.excluded}`,
        )
        .join('; ');
    } catch (err) {
      return `status failed: ${String(err)}`;
    }
  }

  /** Sets the partition (hosts in different sets cannot talk); returns the wall time it was made. */
  async partition(sets: number[][]): Promise<number> {
    const at = wallNow();
    await this.net.partition(sets);
    this.mark(`partition ${sets.map((s) => s.join(',')).join(' | ')} (${Math.round(wallNow() - at)} ms to apply)`);
    return at;
  }

  async heal(): Promise<number> {
    const at = wallNow();
    await this.net.heal();
    this.mark(`healed (${Math.round(wallNow() - at)} ms to apply)`);
    return at;
  }

  private async record(ev: HistoryEvent): Promise<void> {
    appendFileSync(this.harnessFile, JSON.stringify(ev) + '\n');
    await Promise.resolve();
  }

  /** The member id process i last reported (from its history: works for a stopped process too). */
  memberIdOf(i: number): string | null {
    const views = this.events(i).filter((e): e is ViewEv => e.k === 'view');
    return views.at(-1)?.node ?? null;
  }

  async kill(i: number): Promise<void> {
    const id = this.memberIdOf(i);
    this.members[i]!.kill();
    await this.members[i]!.exited;
    if (id !== null) await this.record({ k: 'crash', at: wallNow(), node: id });
    this.mark(`killed #${i}`);
  }

  async pause(i: number): Promise<void> {
    const id = this.memberIdOf(i);
    this.members[i]!.signal('SIGSTOP');
    if (id !== null) await this.record({ k: 'pause', at: wallNow(), node: id });
    this.mark(`paused #${i}`);
  }

  async resume(i: number): Promise<void> {
    const id = this.memberIdOf(i);
    if (id !== null) await this.record({ k: 'resume', at: wallNow(), node: id });
    this.members[i]!.signal('SIGCONT');
    this.mark(`resumed #${i}`);
  }

  async traffic(ix: readonly number[], t: { intervalMs: number; size?: number; orders?: ('fifo' | 'causal' | 'total')[]; safeEvery?: number }): Promise<void> {
    await Promise.all(
      ix.map((i) =>
        this.members[i]!.request<'traffic'>({
          cmd: 'traffic',
          intervalMs: t.intervalMs,
          size: t.size ?? 64,
          ...(t.orders !== undefined ? { orders: t.orders } : {}),
          ...(t.safeEvery !== undefined ? { safeEvery: t.safeEvery } : {}),
        }),
      ),
    );
  }

  /** Process i's own events (its file: the node records only its own). */
  events(i: number): HistoryEvent[] {
    return readHistory(this.files[i]!);
  }

  /**
   * Waits until every process in `ix` is in one view, the same, holding exactly their current member
   * ids, none blocked; returns that view and when the last of them installed it (from the histories).
   */
  async waitOneView(ix: readonly number[], timeoutMs: number, what: string): Promise<AgreedView> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const st = await this.status(ix);
      const v = st[0]!.view;
      const ids = st.map((s) => s.memberId).sort();
      const agreed =
        v.id > 0 &&
        st.every((s) => s.view.id === v.id && s.view.members.join() === v.members.join() && s.blockedReasons.length === 0) &&
        [...v.members].sort().join() === ids.join();
      if (agreed) {
        let at = 0;
        for (const i of ix) {
          const inst = this.events(i).filter((e): e is ViewEv => e.k === 'view' && e.view === v.id);
          at = Math.max(at, inst.at(-1)?.at ?? wallNow());
        }
        return { id: v.id, members: [...v.members], at };
      }
      if (performance.now() > until) throw new Error(`no one view of ${what} within ${timeoutMs} ms: ${await this.describe(ix)}`);
      // Polling 15 processes costs them CPU too: slower for larger labs.
      await sleep(Math.max(100, 25 * ix.length));
    }
  }

  /** First 'blocked' with `reason` at or after `since` in process i's history (wall ms), or null. */
  blockedAt(i: number, since: number, reason = 'minority'): number | null {
    const e = this.events(i).find((x) => x.k === 'blocked' && x.reason === reason && x.at >= since);
    return e?.at ?? null;
  }

  /** Is process i blocked for `reason` at wall time t (from its history)? */
  blockedAtTime(i: number, t: number, reason = 'minority'): boolean {
    let blocked = false;
    for (const e of this.events(i)) {
      if (e.at > t) break;
      if (e.k === 'blocked' && e.reason === reason) blocked = true;
      if (e.k === 'unblocked' && (e.reason === undefined || e.reason === reason)) blocked = false;
      if (e.k === 'ended') blocked = false;
    }
    return blocked;
  }

  /** First view installed by process i at or after `since` with no member on the processes in `without`. */
  viewWithoutAt(i: number, since: number, without: readonly number[]): ViewEv | null {
    const gone = new Set(without.map((j) => this.endpoint(j)));
    const e = this.events(i).find((x): x is ViewEv => x.k === 'view' && x.at >= since && x.members.every((m) => !gone.has(nodeOfMember(m).split('/')[0]!)));
    return e ?? null;
  }

  /** Views installed by process i in [from, to). */
  viewsBetween(i: number, from: number, to: number): ViewEv[] {
    return this.events(i).filter((x): x is ViewEv => x.k === 'view' && x.at >= from && x.at < to);
  }

  /** Every process's history and the harness's events, merged. */
  merged(): HistoryEvent[] {
    return mergeHistories(this.histories());
  }

  private histories(): HistoryEvent[][] {
    return [...this.files.map((f) => readHistory(f)), readHistory(this.harnessFile)];
  }

  /** Clock agreement, then vsync (with state transfer), order and two-primaries checkers over the merged history. */
  check(): { violations: ViolationList; events: HistoryEvent[] } {
    const queues = this.histories();
    const events = mergeHistories(queues);
    const violations = checkVirtualSynchrony(events, this.group);
    checkClockAgreement(queues, violations);
    checkOrder(events, this.group, violations);
    checkNoTwoPrimaries(events, this.group, violations);
    return { violations, events };
  }

  /** Errors the member processes reported (fatal, or the group's 'error' events). */
  async processErrors(): Promise<string[]> {
    const out: string[] = [];
    this.members.forEach((m, i) => m.fatal.forEach((f) => out.push(`#${i} fatal: ${f.split('\n')[0]}`)));
    const running = this.live().filter((i) => !this.members[i]!.stopped);
    try {
      const st = await this.status(running);
      st.forEach((s, k) => s.errors.forEach((e) => out.push(`#${running[k]} ${e}`)));
    } catch (err) {
      out.push(String(err));
    }
    return out;
  }

  /** Kills every process and removes the namespaces; removes the directory unless `keep`. */
  async close(keep: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const m of this.members) if (m.stopped) m.signal('SIGCONT');
    await Promise.all(this.members.map((m) => m.close(0)));
    for (const fd of this.logFds) closeSync(fd);
    await this.net.destroy();
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
