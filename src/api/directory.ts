import { z } from 'zod';
import { pack, unpack } from '../codec/payload.js';
import { MAX_GROUP_NAME_BYTES } from '../codec/frame.js';
import { wire } from '../core/input-guard.js';
import type { NodeId } from '../core/node-id.js';

/** First byte of a node-level directory frame (group frames start with 'H'). */
export const FRAME_KIND_DIRECTORY = 0x44; // 'D'

/** What one node knows of a group: its last view. */
export interface GroupInfo {
  group: string;
  viewId: number;
  members: NodeId[];
  /**
   * Set by a member answering for its own group: true while its view is live (installed, not
   * blocked by a flush, a minority or a rejoin). Only a live group may be merged into.
   */
  live?: boolean;
}

export type DirectoryMessage =
  /**
   * `founding`: the asker is looking for the group too and would found it (its id is the sender's).
   * `view`: the asker is a member of a group of this name with these members (a merge probe).
   */
  | { t: 'lookup'; group: string; req: number; founding?: boolean; view?: NodeId[] }
  /**
   * `founding`: the answerer knows no view of the group but is looking for it too; this is the id
   * of the node it expects to found it (the smallest id among those looking that it knows of).
   * `senior`: an answer to a merge probe: the answerer's live group is senior to the asker's (by
   * the seniority rule, on its own current view), and the answerer stays in it for a while.
   */
  | { t: 'info'; req: number; group: string; info: GroupInfo | null; founding?: NodeId; senior?: boolean }
  | { t: 'list'; req: number }
  | { t: 'listing'; req: number; groups: GroupInfo[] }
  /**
   * A hint: a live group of this name with these members is senior to the receiver's. The
   * receiver believes nothing of it: it asks those members itself before it merges.
   */
  | { t: 'merge'; group: string; members: NodeId[] };

/** Limits of the name service: what a peer can make a node hold, read or send. */
export interface DirectoryLimits {
  /** Groups this node remembers having heard of (it is not in them). */
  maxEntries: number;
  /** Members one group entry may name (more is a lie or an attack: the entry is dropped). */
  maxMembers: number;
  /** Groups one listing may carry, in and out. */
  maxListed: number;
  /** Bytes of one directory frame, in and out. */
  maxFrameBytes: number;
  /** Lookups of this node waiting for answers. */
  maxOutstanding: number;
  /** Answers (info, listing) sent to one peer per second; more requests are dropped. */
  answersPerSecond: number;
  /** Answers sent to all peers together per second (many peers cannot add up to a flood either). */
  answersPerSecondTotal: number;
}

export const DEFAULT_DIRECTORY_LIMITS: DirectoryLimits = {
  maxEntries: 1024,
  maxMembers: 256,
  maxListed: 256,
  maxFrameBytes: 256 * 1024,
  maxOutstanding: 256,
  answersPerSecond: 20,
  answersPerSecondTotal: 1000,
};

/** Checks limits given to a node (positive integers, known names only). */
export const directoryLimitsSchema = z
  .object({
    maxEntries: z.number().int().positive(),
    maxMembers: z.number().int().positive(),
    maxListed: z.number().int().positive(),
    maxFrameBytes: z.number().int().min(1024),
    maxOutstanding: z.number().int().positive(),
    answersPerSecond: z.number().positive(),
    answersPerSecondTotal: z.number().positive(),
  })
  .partial()
  .strict();

const groupName = z
  .string()
  .min(1)
  .refine((s) => Buffer.byteLength(s) <= MAX_GROUP_NAME_BYTES && !/[\u0000-\u001f]/.test(s));

function schemas(limits: DirectoryLimits): z.ZodType<DirectoryMessage> {
  const members = z.array(wire.id).min(1).max(limits.maxMembers);
  const info = z.object({ group: groupName, viewId: wire.int, members, live: z.boolean().optional() });
  return z.discriminatedUnion('t', [
    z.object({ t: z.literal('lookup'), group: groupName, req: wire.int, founding: z.boolean().optional(), view: members.optional() }),
    z.object({ t: z.literal('info'), req: wire.int, group: groupName, info: info.nullable(), founding: wire.id.optional(), senior: z.boolean().optional() }),
    z.object({ t: z.literal('list'), req: wire.int }),
    z.object({ t: z.literal('listing'), req: wire.int, groups: z.array(info).max(limits.maxListed) }),
    z.object({ t: z.literal('merge'), group: groupName, members }),
  ]) as z.ZodType<DirectoryMessage>;
}

const schemaCache = new WeakMap<DirectoryLimits, z.ZodType<DirectoryMessage>>();

/** The schema every incoming directory message must pass, for these limits. */
export function directorySchema(limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS): z.ZodType<DirectoryMessage> {
  let s = schemaCache.get(limits);
  if (!s) schemaCache.set(limits, (s = schemas(limits)));
  return s;
}

export function encodeDirectory(m: DirectoryMessage): Buffer {
  return Buffer.concat([Buffer.of(FRAME_KIND_DIRECTORY), pack(m)]);
}

/**
 * The raw value of a directory frame, or a reason it cannot be one. The caller validates the
 * value against `directorySchema` (through its InputGuard, so that the drop is counted).
 */
export function unpackDirectory(frame: Buffer, maxFrameBytes: number): { value: unknown } | { error: string } {
  if (frame.length > maxFrameBytes) return { error: `directory frame of ${frame.length} bytes over ${maxFrameBytes}` };
  try {
    return { value: unpack(frame.subarray(1)) };
  } catch {
    return { error: 'directory frame does not unpack' };
  }
}

/** Null when the bytes are not a well-formed directory message within the limits. */
export function decodeDirectory(frame: Buffer, limits: DirectoryLimits = DEFAULT_DIRECTORY_LIMITS): DirectoryMessage | null {
  const raw = unpackDirectory(frame, limits.maxFrameBytes);
  if ('error' in raw) return null;
  const r = directorySchema(limits).safeParse(raw.value);
  return r.success ? r.data : null;
}
