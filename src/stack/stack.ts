import { z } from 'zod';
import { ConfigError, HorusError } from '../core/errors.js';
import type { DownEvent, UpEvent } from '../core/events.js';
import type { Message } from '../core/message.js';
import type { FrameBytes } from '../codec/pieced-frame.js';
import type { Layer, LayerContext, LayerLink } from './layer.js';
import { layerDefinition } from './registry.js';

/** Largest payload a group message may carry whatever the stack (FRAG's limit). */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
import { ContainedEnv } from './contained-env.js';

/** One entry of a stack spec: a layer name and its options. */
export interface LayerSpec {
  name: string;
  options?: Record<string, unknown>;
}

/** `'STABLE:FC:FRAG:NAK:COM'` (top first), or a JSON list of `{ name, options }`. */
export type StackSpec = string | readonly (string | LayerSpec)[];

const layerSpecSchema = z.union([z.string().min(1), z.object({ name: z.string().min(1), options: z.record(z.string(), z.unknown()).optional() })]);

export function parseStackSpec(spec: StackSpec): LayerSpec[] {
  if (typeof spec === 'string') {
    const trimmed = spec.trim();
    if (trimmed.startsWith('[')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(trimmed);
      } catch (cause) {
        throw new ConfigError(`stack spec is not valid JSON: ${(cause as Error).message}`, { cause });
      }
      return parseStackSpec(z.array(layerSpecSchema).parse(parsed));
    }
    const names = trimmed.split(':').map((s) => s.trim());
    if (names.some((n) => n === '')) throw new ConfigError(`stack spec "${spec}" has an empty layer name`);
    return names.map((name) => ({ name }));
  }
  return spec.map((e) => (typeof e === 'string' ? { name: e } : { name: e.name, ...(e.options ? { options: e.options } : {}) }));
}

/** The application end of a stack. @internal */
export interface StackTop {
  up(msg: Message): void;
  upEvent(ev: UpEvent): void;
  /** Deliveries in order, in one call (a frame's worth); without it, `up` for each. */
  upBatch?(batch: Message[]): void;
}

/** Receives frames for this group from the node's transport. */
export interface FrameReceiver {
  receiveFrame(from: string, frame: FrameBytes, offset: number): void;
}

/** Where a stack was entered when it threw. */
export type FaultSite = 'start' | 'down' | 'event' | 'frame' | 'timer' | 'stop';

/** Told once when a stack throws: the stack is dead by then (it runs and sends nothing more). */
export type FaultHandler = (err: unknown, site: FaultSite) => void;

/**
 * A built stack: layers linked top to bottom. The bottom layer must be COM (it binds to the
 * transport), and every layer's `requires` must be provided by some layer below it.
 *
 * Every way into the stack (start, down, downEvent, frames, the layers' timers and deferred work)
 * is contained: what a layer throws there kills this stack only and is handed to `onFault`, so the
 * node keeps serving its other groups. Without `onFault` the error is rethrown, as before.
 */
export class Stack {
  readonly layers: Layer[];
  /** Everything the layers provide ("reliable", "causal", "total", ...). */
  readonly provides: ReadonlySet<string>;
  /** Largest application payload this stack can carry, in bytes (larger sends fail with ERR_TOO_LARGE). */
  readonly maxPayloadBytes: number;
  private stopped = false;
  private readonly env: ContainedEnv;
  constructor(
    spec: StackSpec,
    ctx: LayerContext,
    private readonly top: StackTop,
    private readonly onFault?: FaultHandler,
  ) {
    const specs = parseStackSpec(spec);
    if (specs.length === 0) throw new ConfigError('a stack needs at least one layer');
    const defs = specs.map((s) => layerDefinition(s.name));
    const seen = new Set<string>();
    for (const s of specs) {
      if (seen.has(s.name)) throw new HorusError('ERR_STACK', `layer ${s.name} appears twice in the stack`);
      seen.add(s.name);
    }
    if (specs.at(-1)!.name !== 'COM') throw new HorusError('ERR_STACK', `the bottom layer must be COM, found ${specs.at(-1)!.name}`);
    for (let i = 0; i < defs.length; i++) {
      const below = new Set(defs.slice(i + 1).flatMap((d) => d.provides));
      for (const req of defs[i]!.requires) {
        if (!below.has(req)) {
          throw new HorusError(
            'ERR_STACK',
            `layer ${defs[i]!.name} requires "${req}" below it, which no layer under it provides (stack ${specs.map((s) => s.name).join(':')})`,
          );
        }
      }
    }
    this.provides = new Set(defs.flatMap((d) => d.provides));
    this.env = new ContainedEnv(ctx.env, (err) => this.fault(err, 'timer'));
    const options = defs.map((def, i) => {
      const parsed = def.options.safeParse(specs[i]!.options ?? {});
      if (!parsed.success) throw new ConfigError(`options of layer ${def.name}: ${z.prettifyError(parsed.error)}`);
      return parsed.data;
    });
    this.layers = defs.map((def, i) => def.create({ ...ctx, env: this.env, log: ctx.log.child({ layer: def.name }) }, options[i]));
    let limit = Infinity;
    for (let i = this.layers.length - 1; i >= 0; i--) limit = this.layers[i]!.payloadLimit(limit);
    this.maxPayloadBytes = Math.min(limit, MAX_PAYLOAD_BYTES);
    // A dead or stopped stack's layers may still be unwinding (a JOIN_FAILED followed by LEFT in one
    // call, while the node already built the next stack): nothing of theirs reaches the application.
    const topLink: LayerLink = {
      up: (m) => {
        if (!this.env.isDead && !this.stopped) top.up(m);
      },
      upEvent: (e) => {
        if (!this.env.isDead && !this.stopped) top.upEvent(e);
      },
      upBatch: (batch) => {
        if (this.env.isDead || this.stopped) return;
        if (top.upBatch !== undefined) top.upBatch(batch);
        else for (const m of batch) top.up(m);
      },
      down: () => {
        throw new HorusError('ERR_STACK', 'nothing is above the top of the stack');
      },
      downBatch: () => {
        throw new HorusError('ERR_STACK', 'nothing is above the top of the stack');
      },
      downEvent: () => {
        throw new HorusError('ERR_STACK', 'nothing is above the top of the stack');
      },
    };
    const bottomLink: LayerLink = {
      down: () => {
        throw new HorusError('ERR_STACK', 'nothing is below COM');
      },
      downEvent: () => {},
      downBatch: () => {
        throw new HorusError('ERR_STACK', 'nothing is below COM');
      },
      up: () => {
        throw new HorusError('ERR_STACK', 'nothing is below COM');
      },
      upBatch: () => {
        throw new HorusError('ERR_STACK', 'nothing is below COM');
      },
      upEvent: () => {
        throw new HorusError('ERR_STACK', 'nothing is below COM');
      },
    };
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i]!;
      l.above = i === 0 ? topLink : this.layers[i - 1]!;
      l.below = i === this.layers.length - 1 ? bottomLink : this.layers[i + 1]!;
    }
  }

  get topLayer(): Layer {
    return this.layers[0]!;
  }

  get bottom(): Layer & FrameReceiver {
    return this.layers.at(-1) as Layer & FrameReceiver;
  }

  /** True once a layer threw: the stack runs and sends nothing more. */
  get faulted(): boolean {
    return this.env.isDead;
  }

  start(): void {
    if (this.env.isDead) return;
    try {
      for (let i = this.layers.length - 1; i >= 0; i--) this.layers[i]!.start();
    } catch (err) {
      this.fault(err, 'start');
    }
  }

  down(msg: Message): void {
    if (this.env.isDead) return;
    try {
      this.layers[0]!.down(msg);
    } catch (err) {
      this.fault(err, 'down');
    }
  }

  /** Sends in order, as one batch through the layers (COM bundles them into frames). */
  downBatch(batch: Message[]): void {
    if (this.env.isDead) return;
    try {
      this.layers[0]!.downBatch(batch);
    } catch (err) {
      this.fault(err, 'down');
    }
  }

  downEvent(ev: DownEvent): void {
    if (this.env.isDead) return;
    try {
      this.layers[0]!.downEvent(ev);
    } catch (err) {
      this.fault(err, 'event');
    }
  }

  /** A frame for this group from the node; `offset` is just past the group name. */
  receiveFrame(from: string, frame: FrameBytes, offset: number): void {
    if (this.env.isDead) return;
    try {
      this.bottom.receiveFrame(from, frame, offset);
    } catch (err) {
      this.fault(err, 'frame');
    }
  }

  /** Cancel every layer's timers. Each layer stops even if another one throws. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const l of this.layers) {
      try {
        l.stop();
      } catch (err) {
        this.fault(err, 'stop');
      }
    }
  }

  /** A layer threw: the stack dies here (once) and its owner is told. */
  private fault(err: unknown, site: FaultSite): void {
    if (this.env.isDead) return;
    if (!this.onFault) throw err;
    this.env.kill();
    this.onFault(err, site);
  }
}
