import type { LayerDefinition } from './registry.js';

/** Largest payload a group message may carry whatever the stack (FRAG's default message limit). */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;

/**
 * Room kept in a frame for everything but the payload, when the bottom layer does not say:
 * frame kind, group name (200 bytes at most), counts and lengths, a unicast destination (1 KiB at
 * most) and the layers' headers (a CAUSAL vector grows with the view). Conservative on purpose.
 */
export const DEFAULT_HEADER_ALLOWANCE = 32 * 1024;

/** COM's default batch size: a message may join a batch that already holds almost this much. */
const DEFAULT_BATCH_BYTES = 60 * 1024;

interface Built {
  def: LayerDefinition<unknown>;
  options: unknown;
}

function numberOption(options: unknown, name: string): number | undefined {
  if (typeof options !== 'object' || options === null) return undefined;
  const v = (options as Record<string, unknown>)[name];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * The largest payload a stack can carry. A fragmenting layer (one that says `maxPayloadBytes`,
 * or FRAG) sets it; without one, a message travels in one frame, so it must fit in the
 * transport's largest frame together with a batch COM may already hold and every header.
 */
export function maxPayloadBytesOf(layers: readonly Built[], maxFrameSize: number): number {
  let limit = MAX_PAYLOAD_BYTES;
  let fragments = false;
  for (const { def, options } of layers) {
    const own = def.maxPayloadBytes?.(options as never);
    if (own !== undefined) {
      limit = Math.min(limit, own);
      fragments ||= def.name === 'FRAG';
    } else if (def.name === 'FRAG') {
      fragments = true;
      const opt = numberOption(options, 'maxMessageBytes') ?? numberOption(options, 'maxMessageSize');
      if (opt !== undefined) limit = Math.min(limit, opt);
    }
  }
  if (fragments) return limit;
  const bottom = layers.at(-1);
  const overhead =
    bottom?.def.frameOverheadBytes?.(bottom.options as never) ??
    (numberOption(bottom?.options, 'batchBytes') ?? DEFAULT_BATCH_BYTES) + DEFAULT_HEADER_ALLOWANCE;
  return Math.max(0, Math.min(limit, maxFrameSize - overhead));
}
