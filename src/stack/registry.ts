import type { z } from 'zod';
import { HorusError } from '../core/errors.js';
import type { Layer, LayerContext } from './layer.js';

/** How a layer is made from a spec entry. */
export interface LayerDefinition<O = unknown> {
  readonly name: string;
  /** Properties this layer gives the layers above it ("reliable", "fifo", "digest", ...). */
  readonly provides: readonly string[];
  /** Properties some layer below must provide. */
  readonly requires: readonly string[];
  readonly options: z.ZodType<O>;
  create(ctx: LayerContext, options: O): Layer;
}

const layers = new Map<string, LayerDefinition<never>>();

export function registerLayer<O>(def: LayerDefinition<O>): LayerDefinition<O> {
  if (layers.has(def.name)) throw new HorusError('ERR_STACK', `layer ${def.name} registered twice`);
  layers.set(def.name, def as unknown as LayerDefinition<never>);
  return def;
}

export function layerDefinition(name: string): LayerDefinition<unknown> {
  const def = layers.get(name);
  if (!def) throw new HorusError('ERR_STACK', `unknown layer "${name}"; known layers: ${[...layers.keys()].sort().join(', ')}`);
  return def as unknown as LayerDefinition<unknown>;
}

export function knownLayers(): string[] {
  return [...layers.keys()].sort();
}
