import type { LayerLink } from '../../src/stack/layer.js';

/** A neighbour for a layer under test: every method does nothing but those given. */
export function stubLink(given: Partial<LayerLink> = {}): LayerLink {
  const nop = (): void => {};
  return { up: nop, upBatch: nop, upEvent: nop, down: nop, downBatch: nop, downEvent: nop, ...given };
}
