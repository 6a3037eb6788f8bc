import type { Timer } from '../core/env.js';
import { ClosedError, HorusError } from '../core/errors.js';

const PENDING = 0;
const CANCELLED = 1;
const DONE = 2;

const noop = (): void => {};

/** One queued callback. It is its own Timer so scheduling allocates a single object. */
class ScheduledEvent implements Timer {
  state = PENDING;
  constructor(
    readonly time: number,
    readonly seq: number,
    public fn: () => void,
    private readonly owner: Scheduler,
  ) {}

  /** O(1): the event stays in the heap and is skipped when it reaches the top. */
  cancel(): void {
    if (this.state !== PENDING) return;
    this.state = CANCELLED;
    this.fn = noop; // drop the closure now: long timers can pin large state
    this.owner.noteCancelled();
  }
}

/** Orders by virtual time, then by insertion: equal-time events run in the order they were scheduled. */
function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export interface SchedulerOptions {
  /**
   * Stop with an error after this many events in total. A livelock (e.g. a `defer` loop that never lets
   * virtual time advance) then becomes a failing seed instead of a hang.
   */
  maxEvents?: number;
}

/**
 * The simulator's single event queue: a binary min-heap on (time, seq). Virtual time only moves when an
 * event runs or a `runUntil` deadline is reached. If a callback throws, the scheduler stops for good and
 * rethrows, so the run ends at the failure.
 */
export class Scheduler {
  private readonly heap: ScheduledEvent[] = [];
  private time = 0;
  private seq = 0;
  private cancelledInHeap = 0;
  private failure: { error: unknown } | null = null;
  private readonly maxEvents: number;
  /** Events whose callback has run (cancelled ones are not counted). */
  eventsRun = 0;

  constructor(options: SchedulerOptions = {}) {
    this.maxEvents = options.maxEvents ?? Infinity;
  }

  now(): number {
    return this.time;
  }

  /** Events still queued and not cancelled. */
  get pending(): number {
    return this.heap.length - this.cancelledInHeap;
  }

  /** True once a callback has thrown; every later run call throws. */
  get failed(): boolean {
    return this.failure !== null;
  }

  schedule(delayMs: number, fn: () => void): Timer {
    if (!(delayMs >= 0) || !Number.isFinite(delayMs)) {
      throw new HorusError('ERR_INVALID_ARGUMENT', `schedule: delay must be a finite number >= 0, got ${delayMs}`);
    }
    return this.push(this.time + delayMs, fn);
  }

  /** Schedule at an absolute virtual time (not before now). */
  scheduleAt(time: number, fn: () => void): Timer {
    if (!(time >= this.time) || !Number.isFinite(time)) {
      throw new HorusError('ERR_INVALID_ARGUMENT', `scheduleAt: time must be finite and >= now (${this.time}), got ${time}`);
    }
    return this.push(time, fn);
  }

  /** Run the next live event. False when nothing is left to run. */
  step(): boolean {
    this.checkNotFailed();
    for (;;) {
      const ev = this.pop();
      if (ev === undefined) return false;
      if (ev.state === CANCELLED) {
        this.cancelledInHeap--;
        continue;
      }
      ev.state = DONE;
      this.time = ev.time;
      if (this.eventsRun >= this.maxEvents) {
        this.fail(new HorusError('ERR_ASSERTION', `scheduler: event budget of ${this.maxEvents} exhausted at t=${this.time}`));
      }
      this.eventsRun++;
      const fn = ev.fn;
      ev.fn = noop;
      try {
        fn();
      } catch (error) {
        this.failure = { error };
        throw error;
      }
      return true;
    }
  }

  /** Run every event due at or before `t`, then move the clock to `t`. */
  runUntil(t: number): void {
    this.checkNotFailed();
    for (;;) {
      const next = this.peekLive();
      if (next === undefined || next.time > t) break;
      this.step();
    }
    if (t > this.time) this.time = t;
  }

  runFor(ms: number): void {
    this.runUntil(this.time + ms);
  }

  /**
   * Run until the queue is empty or the next event is after `maxTime`. True if the queue drained (the
   * clock then stays at the last event's time); false if `maxTime` stopped it (the clock is then `maxTime`).
   */
  runUntilIdle(maxTime = Infinity): boolean {
    this.checkNotFailed();
    for (;;) {
      const next = this.peekLive();
      if (next === undefined) return true;
      if (next.time > maxTime) {
        if (maxTime > this.time) this.time = maxTime;
        return false;
      }
      this.step();
    }
  }

  /** @internal called by ScheduledEvent.cancel */
  noteCancelled(): void {
    this.cancelledInHeap++;
    // Many cancelled timeouts far in the future would bloat the heap: rebuild it when they dominate.
    if (this.cancelledInHeap > 1024 && this.cancelledInHeap * 2 > this.heap.length) this.compact();
  }

  private push(time: number, fn: () => void): ScheduledEvent {
    const ev = new ScheduledEvent(time, this.seq++, fn, this);
    const heap = this.heap;
    let i = heap.length;
    heap.push(ev);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!before(ev, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = ev;
    return ev;
  }

  private pop(): ScheduledEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const n = heap.length;
    const ev = heap[start]!;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && before(heap[r]!, heap[l]!)) c = r;
      const child = heap[c]!;
      if (!before(child, ev)) break;
      heap[i] = child;
      i = c;
    }
    heap[i] = ev;
  }

  /** The next event that will run, discarding cancelled ones from the top. */
  private peekLive(): ScheduledEvent | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.state !== CANCELLED) return top;
      this.pop();
      this.cancelledInHeap--;
    }
  }

  private compact(): void {
    const live = this.heap.filter((ev) => ev.state !== CANCELLED);
    this.heap.length = 0;
    for (const ev of live) this.heap.push(ev);
    this.cancelledInHeap = 0;
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private fail(error: unknown): never {
    this.failure = { error };
    throw error;
  }

  private checkNotFailed(): void {
    if (this.failure !== null) {
      throw new ClosedError('scheduler stopped: an event callback threw earlier', { cause: this.failure.error });
    }
  }
}
