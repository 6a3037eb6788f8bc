/** Stable error codes: callers branch on `code`, never on message text. */
export type HorusErrorCode =
  | 'ERR_PROTOCOL'
  | 'ERR_ACCESS_DENIED'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_MALFORMED'
  | 'ERR_CONFIG'
  | 'ERR_STACK'
  | 'ERR_NOT_MEMBER'
  | 'ERR_UNKNOWN_GROUP'
  | 'ERR_JOIN_REJECTED'
  | 'ERR_TIMEOUT'
  | 'ERR_BLOCKED'
  | 'ERR_AUTH'
  | 'ERR_CLOSED'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_STATE_TRANSFER'
  /** A message is larger than the group's stack can carry. */
  | 'ERR_TOO_LARGE'
  /** Too many sends (or lookups) are already waiting: try again once they drain. */
  | 'ERR_BACKPRESSURE'
  /** A group's protocol stack threw: it was torn down (the member rejoins); see `cause`. */
  | 'ERR_INTERNAL'
  | 'ERR_ASSERTION'
  /** A point-to-point send or call names a member that is not in the group's current view. */
  | 'ERR_UNKNOWN_MEMBER'
  /** The member a call went to left the view before it replied (the call fails at once, not at its timeout). */
  | 'ERR_MEMBER_LEFT'
  /** The remote side's handler threw, or it has none: the message says what it said. */
  | 'ERR_REMOTE'
  /** A lock or semaphore permit released by a member (or client) that does not hold it. */
  | 'ERR_NOT_HOLDER'
  /** A replicated map's compareAndSet on a key it does not hold. */
  | 'ERR_NO_SUCH_KEY'
  /** A request reached a member that is not the primary (the reply names it; clients follow it). */
  | 'ERR_NOT_PRIMARY';

export class HorusError extends Error {
  readonly code: HorusErrorCode;
  constructor(code: HorusErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, { cause: options?.cause ?? null });
    this.code = code;
    this.name = 'HorusError';
  }
}

/** Bytes from the network that do not parse. Never thrown past the transport/COM boundary. */
export class ProtocolError extends HorusError {
  constructor(code: 'ERR_PROTOCOL' | 'ERR_MALFORMED' | 'ERR_FRAME_TOO_LARGE', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ProtocolError';
  }
}

export class ConfigError extends HorusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', message, options);
    this.name = 'ConfigError';
  }
}

export class ClosedError extends HorusError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CLOSED', message, options);
    this.name = 'ClosedError';
  }
}

/** An invariant broke: a bug. The simulator turns it into a failing seed. */
export class AssertionFailure extends HorusError {
  constructor(message: string) {
    super('ERR_ASSERTION', message);
    this.name = 'AssertionFailure';
  }
}

export function invariant(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new AssertionFailure(typeof message === 'string' ? message : message());
}
