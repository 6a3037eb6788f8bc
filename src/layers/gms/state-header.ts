import { defineHeader, HeaderIds } from '../../codec/header-registry.js';

/** Where a state chunk's payload sits in the stream: the bytes themselves are the payload, uncopied. */
export interface StateChunkHeader {
  /** The joiner's first view, whose state this is. */
  view: number;
  /** Offset of the payload's first byte in the state. */
  offset: number;
  /** Bytes in the whole state. */
  size: number;
  /** The provider asks for an ack of this chunk at once (its window is filling). */
  ackNow: boolean;
}

/** Pushed under GMS's own header (kind StateChunk) on every chunk. */
export const STATE_HEADER = defineHeader<StateChunkHeader>(
  HeaderIds.STATE,
  'STATE',
  (w, h) => {
    w.uvar(h.view);
    w.uvar(h.offset);
    w.uvar(h.size);
    w.u8(h.ackNow ? 1 : 0);
  },
  (r) => ({ view: r.uvar(), offset: r.uvar(), size: r.uvar(), ackNow: r.u8() === 1 }),
);
