import { HorusError } from '../core/errors.js';

/** Deepest nesting a structured payload may have (deeper would also strain every receiver's decoder). */
export const MAX_PAYLOAD_DEPTH = 512;

const MIN_I64 = -(2n ** 63n);
const MAX_U64 = 2n ** 64n - 1n;

/**
 * Throws ERR_INVALID_ARGUMENT if `value` cannot travel as a structured payload: functions and
 * symbols (MessagePack would drop them silently or fail), cycles, nesting deeper than
 * MAX_PAYLOAD_DEPTH, integers beyond 64 bits, promises and weak collections. Bytes are not
 * walked: the caller skips this check for them.
 */
export function checkPayload(value: unknown): void {
  walk(value, 0, [], []);
}

/** `path` holds the keys from the top; the name is only built for an error. */
function bad(path: readonly (string | number)[], what: string): never {
  const at = path.length === 0 ? 'the top' : path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');
  throw new HorusError('ERR_INVALID_ARGUMENT', `payload cannot be sent: ${what} at ${at}`);
}

/** `ancestors` is the chain of objects above `v` (short in practice: an array beats a Set here). */
function walk(v: unknown, depth: number, ancestors: object[], path: (string | number)[]): void {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return;
    case 'bigint':
      if (v < MIN_I64 || v > MAX_U64) bad(path, 'an integer beyond 64 bits');
      return;
    case 'function':
      return bad(path, 'a function');
    case 'symbol':
      return bad(path, 'a symbol');
    case 'object':
      break;
  }
  if (v === null || ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date) return;
  const o = v as object;
  if (o instanceof Promise || o instanceof WeakMap || o instanceof WeakSet) bad(path, `a ${o.constructor.name}`);
  if (depth >= MAX_PAYLOAD_DEPTH) bad(path, `nesting deeper than ${MAX_PAYLOAD_DEPTH}`);
  if (ancestors.includes(o)) bad(path, 'a cycle');
  ancestors.push(o);
  const d = depth + 1;
  if (Array.isArray(o)) {
    for (let i = 0; i < o.length; i++) {
      const x: unknown = o[i];
      // Numbers and strings, the bulk of large arrays, need no call.
      if (typeof x === 'number' || typeof x === 'string') continue;
      path.push(i);
      walk(x, d, ancestors, path);
      path.pop();
    }
  } else if (o instanceof Map) {
    for (const [k, x] of o) {
      path.push(String(k));
      walk(k, d, ancestors, path);
      walk(x, d, ancestors, path);
      path.pop();
    }
  } else if (o instanceof Set) {
    let i = 0;
    for (const x of o) {
      path.push(i++);
      walk(x, d, ancestors, path);
      path.pop();
    }
  } else {
    for (const k of Object.keys(o)) {
      const x = (o as Record<string, unknown>)[k];
      if (typeof x === 'number' || typeof x === 'string' || typeof x === 'boolean') continue;
      path.push(k);
      walk(x, d, ancestors, path);
      path.pop();
    }
  }
  ancestors.pop();
}
