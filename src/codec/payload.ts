import { Packr } from 'msgpackr';
import { HorusError } from '../core/errors.js';
import { PayloadEncoding } from '../api/app-header.js';

// Standard MessagePack (no msgpackr records), so other implementations can read our payloads.
const packr = new Packr({ useRecords: false, moreTypes: false });

/** Bytes travel as they are; anything else is packed. */
export function encodePayload(value: unknown): { bytes: Buffer; encoding: PayloadEncoding } {
  if (value instanceof Uint8Array) {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return { bytes, encoding: PayloadEncoding.Bytes };
  }
  try {
    return { bytes: packr.pack(value), encoding: PayloadEncoding.Packed };
  } catch (cause) {
    throw new HorusError('ERR_INVALID_ARGUMENT', `payload cannot be encoded: ${(cause as Error).message}`, { cause });
  }
}

export function decodePayload(bytes: Buffer, encoding: PayloadEncoding): unknown {
  return encoding === PayloadEncoding.Bytes ? bytes : packr.unpack(bytes);
}

export function pack(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpack(bytes: Buffer): unknown {
  return packr.unpack(bytes);
}
