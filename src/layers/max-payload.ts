import type { Layer } from '../stack/layer.js';
import { COM } from './COM.js';
import { FRAG } from './FRAG.js';

/**
 * The largest application payload (the bytes the group hands to the top of the stack, before any
 * header) that `layers`, top to bottom, can carry. Without FRAG that is one transport frame less
 * the frame's bytes and room for headers (COM.maxPayloadBytes: 16 MiB - 16 KiB - a few bytes on
 * the default transports); with FRAG it is FRAG's limit (64 MiB), provided each fragment fits
 * COM's frame (else COM's limit holds). A layer stack without COM at the bottom carries nothing.
 */
export function maxPayloadBytes(layers: readonly Layer[]): number {
  const bottom = layers.at(-1);
  if (!(bottom instanceof COM)) return 0;
  const frame = bottom.maxPayloadBytes;
  for (const l of layers) {
    if (l instanceof FRAG) return l.fragSize <= frame ? l.maxPayloadBytes : frame;
  }
  return frame;
}
