import { pack, unpack } from '../codec/payload.js';
import type { NodeId } from '../core/node-id.js';

/** First byte of a node-level directory frame (group frames start with 'H'). */
export const FRAME_KIND_DIRECTORY = 0x44; // 'D'

/** What one node knows of a group: its last view. */
export interface GroupInfo {
  group: string;
  viewId: number;
  members: NodeId[];
}

export type DirectoryMessage =
  | { t: 'lookup'; group: string; req: number }
  | { t: 'info'; req: number; group: string; info: GroupInfo | null }
  | { t: 'list'; req: number }
  | { t: 'listing'; req: number; groups: GroupInfo[] };

export function encodeDirectory(m: DirectoryMessage): Buffer {
  return Buffer.concat([Buffer.of(FRAME_KIND_DIRECTORY), pack(m)]);
}

/** Null when the bytes are not a well-formed directory message. */
export function decodeDirectory(frame: Buffer): DirectoryMessage | null {
  let v: unknown;
  try {
    v = unpack(frame.subarray(1));
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const m = v as Record<string, unknown>;
  if (typeof m['req'] !== 'number') return null;
  switch (m['t']) {
    case 'lookup':
      return typeof m['group'] === 'string' ? (m as DirectoryMessage) : null;
    case 'info':
      return typeof m['group'] === 'string' && (m['info'] === null || isInfo(m['info'])) ? (m as DirectoryMessage) : null;
    case 'list':
      return m as DirectoryMessage;
    case 'listing':
      return Array.isArray(m['groups']) && m['groups'].every(isInfo) ? (m as DirectoryMessage) : null;
    default:
      return null;
  }
}

function isInfo(v: unknown): v is GroupInfo {
  if (typeof v !== 'object' || v === null) return false;
  const i = v as Record<string, unknown>;
  return typeof i['group'] === 'string' && typeof i['viewId'] === 'number' && Array.isArray(i['members']) && i['members'].every((x) => typeof x === 'string');
}
