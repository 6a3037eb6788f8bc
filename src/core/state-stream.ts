/**
 * State transfer as a stream, between the membership layer and the application end of a stack.
 * The provider hands GMS a source it reads lazily as the joiner's window opens; the joiner's end
 * may hand GMS a sink that takes the bytes as they arrive, so neither side needs the whole state
 * in one buffer (see docs/state-transfer.md).
 */

/** A provider's state as of one view: its size, and a way to read it from the start (once per joiner). */
export interface StateSource {
  /** Bytes in the state; the joiner checks it against its cap before any byte moves. */
  readonly size: number;
  /**
   * The state's bytes from the start, in order, as views that stay valid and unchanged until
   * `release` (they go on the wire without a copy). Called once per joiner.
   */
  open(): Iterator<Uint8Array>;
  /** Every joiner has its state (or is gone): the source's buffers may be reused. */
  release?(): void;
}

/** Where a joiner's state goes as it arrives, in order; its first view waits for `finish`. */
export interface StateSink {
  /** The next bytes of the state (a view of a received frame: the sink may keep it). */
  write(chunk: Buffer): void;
  /** Every byte arrived: apply the state. Throwing fails the join (ERR_STATE_TRANSFER). */
  finish(): void;
  /** The transfer was abandoned (the provider failed, the join failed): discard what arrived. */
  abort(reason: string): void;
}

/** A source over bytes already in memory: views of `parts`, in order (no copy). */
export function sourceOfBuffers(parts: readonly Uint8Array[], release?: () => void): StateSource {
  let size = 0;
  for (const p of parts) size += p.length;
  return {
    size,
    open: () => parts[Symbol.iterator](),
    ...(release ? { release } : {}),
  };
}
