import { defineHeader, HeaderIds } from '../../codec/header-registry.js';

/** Where a state chunk's payload sits in the stream: the bytes themselves are the payload, uncopied. */
export interface StateChunkHeader {
  /** The joiner's first view, whose state this is. */
  view: number;
  /** Offset of the payload's first byte in the state. */
  offset: number;
  /** Bytes in the whole state. */
  size: number;
}

/** Pushed under GMS's own header (kind StateChunk) on every chunk. */
export const STATE_HEADER = defineHeader<StateChunkHeader>(
  HeaderIds.STATE,
  'STATE',
  (w, h) => {
    w.uvar(h.view);
    w.uvar(h.offset);
    w.uvar(h.size);
  },
  (r) => ({ view: r.uvar(), offset: r.uvar(), size: r.uvar() }),
);
