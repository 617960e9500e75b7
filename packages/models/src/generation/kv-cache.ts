import { concat, keep, type Tensor } from "@peftjs/tensor";

/**
 * The keys and values of every past position, per decoder layer, for incremental decoding. Keys are stored
 * after RoPE. Each layer holds `[batch * numKeyValueHeads, length, headDim]` tensors.
 *
 * Create one with `model.createCache(batchSize)`, pass it to every `forward` of one generation, and
 * `dispose()` it afterwards.
 */
export class KeyValueCache {
  /** Number of sequences in the batch the cache belongs to. */
  readonly batchSize: number;
  private readonly keys: (Tensor | undefined)[];
  private readonly values: (Tensor | undefined)[];
  private cachedLength = 0;

  constructor(numLayers: number, batchSize: number) {
    this.batchSize = batchSize;
    this.keys = new Array(numLayers).fill(undefined);
    this.values = new Array(numLayers).fill(undefined);
  }

  /** Number of positions cached (the position of the next token). */
  get length(): number {
    return this.cachedLength;
  }

  /**
   * Appends a layer's new keys and values (`[batch * kvHeads, newPositions, headDim]`) and returns the full
   * keys and values. The cache keeps its own references (they survive an enclosing `tidy`).
   */
  append(layer: number, newKeys: Tensor, newValues: Tensor): { keys: Tensor; values: Tensor } {
    const previousKeys = this.keys[layer];
    const previousValues = this.values[layer];
    const keys = keep(previousKeys === undefined ? newKeys : concat([previousKeys, newKeys], 1));
    const values = keep(previousValues === undefined ? newValues : concat([previousValues, newValues], 1));
    previousKeys?.dispose();
    previousValues?.dispose();
    this.keys[layer] = keys;
    this.values[layer] = values;
    return { keys, values };
  }

  /** Records that a forward pass appended `count` positions to every layer. */
  advance(count: number): void {
    this.cachedLength += count;
  }

  /** Releases every cached tensor; the cache is empty afterwards. */
  dispose(): void {
    for (const list of [this.keys, this.values]) {
      for (let layer = 0; layer < list.length; layer++) {
        list[layer]?.dispose();
        list[layer] = undefined;
      }
    }
    this.cachedLength = 0;
  }
}
