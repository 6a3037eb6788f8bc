import { z } from 'zod';
import { ConfigError, HorusError, ProtocolError } from '../core/errors.js';
import type { Env } from '../core/env.js';
import type { HistoryRecorder } from '../core/history.js';
import { RateLimitedLog } from '../core/logger.js';
import { endpointOf, type NodeId } from '../core/node-id.js';
import type { View } from '../core/view.js';
import { MAX_GROUP_NAME_BYTES, readFrameGroup } from '../codec/frame.js';
import { DEFAULT_STACK } from '../layers/index.js';
import { MemoryMetrics } from '../obs/metrics.js';
import { Stack, type StackSpec } from '../stack/stack.js';
import { Group } from './group.js';

export interface JoinOptions {
  /** Layers top first, e.g. 'STABLE:FC:FRAG:NAK:COM', or a JSON list of { name, options }. */
  stack?: StackSpec;
  /**
   * A fixed membership: every member's `host:port`, in seniority order, this node included.
   * Members are then named by endpoint.
   */
  members?: readonly string[];
}

const groupNameSchema = z
  .string()
  .min(1, 'a group name cannot be empty')
  .refine((s) => Buffer.byteLength(s) <= MAX_GROUP_NAME_BYTES, `a group name is at most ${MAX_GROUP_NAME_BYTES} bytes`)
  .refine((s) => !/[\u0000-\u001f]/.test(s), 'a group name cannot hold control characters');

interface GroupEntry {
  group: Group;
  stack: Stack;
}

/**
 * One Horus endpoint: owns the transport and hands each incoming frame to the stack of the group
 * it names. Runs the same on the real Env and the simulator's.
 */
export class HorusNode {
  readonly metrics = new MemoryMetrics();
  private readonly groupsByName = new Map<string, GroupEntry>();
  private readonly badInput: RateLimitedLog;
  private closed = false;

  constructor(
    readonly env: Env,
    private readonly recorder?: HistoryRecorder,
  ) {
    this.badInput = new RateLimitedLog(env.log, () => env.now());
    env.transport.onFrame((from, frame) => this.onFrame(from, Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)));
  }

  get id(): NodeId {
    return this.env.transport.localId;
  }

  get endpoint(): string {
    return endpointOf(this.id);
  }

  private onFrame(from: string, frame: Buffer): void {
    let parsed;
    try {
      parsed = readFrameGroup(frame);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.metrics.counter('horus_node_malformed_frames_total', 'frames with no readable group').inc();
      this.badInput.warn('dropped frame with no readable group', { from, error: err.message });
      return;
    }
    const entry = this.groupsByName.get(parsed.group);
    if (!entry) {
      this.metrics.counter('horus_node_unknown_group_frames_total', 'frames for groups this node is not in').inc();
      this.badInput.warn('dropped frame for a group this node is not in', { from, group: parsed.group });
      return;
    }
    entry.stack.bottom.receiveFrame(from, frame, parsed.offset);
  }

  /** Groups this node is a member of. */
  groups(): { name: string; view: View }[] {
    return [...this.groupsByName.values()].map((e) => ({ name: e.group.name, view: e.group.view }));
  }

  group(name: string): Group | undefined {
    return this.groupsByName.get(name)?.group;
  }

  join(name: string, opts: JoinOptions = {}): Group {
    if (this.closed) throw new HorusError('ERR_CLOSED', 'node is closed');
    const parsedName = groupNameSchema.safeParse(name);
    if (!parsedName.success) throw new HorusError('ERR_INVALID_ARGUMENT', `bad group name: ${parsedName.error.issues.map((i) => i.message).join('; ')}`);
    if (this.groupsByName.has(name)) throw new HorusError('ERR_INVALID_ARGUMENT', `already a member of group ${name}`);
    if (!opts.members) throw new ConfigError('joining without a fixed member list needs the membership layer (GMS), which this build does not have yet');
    const members = opts.members.map((m) => endpointOf(m));
    if (new Set(members).size !== members.length) throw new ConfigError(`member list of ${name} repeats a member`);
    const localId = this.endpoint;
    if (!members.includes(localId)) throw new HorusError('ERR_NOT_MEMBER', `${localId} is not in the fixed member list of ${name}`);
    const view: View = { group: name, id: 1, members };
    const group = new Group(name, localId, view, this.recorder, () => this.env.now(), (g) => this.leaveGroup(g));
    const stack = new Stack(
      opts.stack ?? DEFAULT_STACK,
      { env: this.env, group: name, localId, log: this.env.log.child({ group: name }), metrics: this.metrics, memberIdOf: endpointOf },
      group,
    );
    group.attach(stack);
    this.groupsByName.set(name, { group, stack });
    stack.start();
    stack.downEvent({ type: 'VIEW', view });
    group.installView(view);
    return group;
  }

  private async leaveGroup(g: Group): Promise<void> {
    const entry = this.groupsByName.get(g.name);
    if (!entry) return;
    entry.stack.downEvent({ type: 'STOP' });
    entry.stack.stop();
    this.groupsByName.delete(g.name);
    g.markLeft();
    await Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const e of [...this.groupsByName.values()]) await e.group.leave();
    this.closed = true;
    await this.env.transport.close();
  }
}
