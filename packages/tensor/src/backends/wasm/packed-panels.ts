/**
 * Packed B panels of reused matrix operands (weights), kept per storage so that a weight is packed once, not on
 * every product.
 *
 * The GEMM packs op(B) into NR-wide, k-major float32 panels before its micro-kernel runs; for a weight such as
 * a 49,152 × 576 embedding used as `x · Wᵀ`, that is a full copy of the weight per call (per thread band, even).
 * Tensors are immutable, so the packed form of a storage never goes stale: the second time a storage is the B
 * operand of a product in the same orientation, its whole op(B) is packed once (by all threads, disjoint panel
 * ranges) into a buffer of the wasm heap, and every later product with it skips packing. The first use packs as
 * before, so operands used once (activations) cost nothing extra.
 *
 * The cache is bounded (`limitBytes`, `WasmBackendOptions.packedWeightCacheBytes`): when a new entry does not
 * fit, it is simply not cached (no eviction: a forward pass touches every weight in order, so evicting the least
 * recently used would evict exactly the next one needed). Entries are released with their tensor's storage
 * (`dispose`), and `clear()` drops them all. float16/bfloat16 weights are packed as float32 (twice their bytes).
 */
import type { WasmHeap } from "./heap.js";
import type { WasmHandle } from "./wasm-kernels.js";

/** One cached packed operand: a heap block holding [panel][k][NR] float32. */
interface Entry {
  readonly offset: number;
  readonly bytes: number;
}

/** Orientation of the B operand: its storage read as is, or transposed (`x · Wᵀ`). */
type Orientation = "plain" | "transposed";

/** Counts for diagnostics and benchmarks. */
export interface PackedPanelStatistics {
  /** Live cached operands. */
  readonly entries: number;
  /** Heap bytes they hold. */
  readonly bytes: number;
  /** The bound on `bytes`. */
  readonly limitBytes: number;
  /** Products that used a cached operand. */
  readonly hits: number;
  /** Operands that were packed into the cache. */
  readonly packed: number;
  /** Operands that would have been cached but did not fit under the bound. */
  readonly skipped: number;
}

/** The packed-panel cache of one wasm backend. */
export class PackedPanelCache {
  private readonly entries = new Map<WasmHandle, Map<Orientation, Entry>>();
  private readonly seen = new WeakMap<WasmHandle, Set<Orientation>>();
  private usedBytes = 0;
  private hits = 0;
  private packed = 0;
  private skipped = 0;

  constructor(
    private readonly heap: WasmHeap,
    /** Most heap bytes the cache may hold. */
    readonly limitBytes: number,
  ) {}

  /** The cached panels of `handle` in this orientation, if any. */
  lookup(handle: WasmHandle, transposed: boolean): number | undefined {
    const entry = this.entries.get(handle)?.get(transposed ? "transposed" : "plain");
    if (entry !== undefined) this.hits++;
    return entry?.offset;
  }

  /**
   * Records a use of `handle` as a B operand and says whether it should be packed into the cache now: on its
   * second use in this orientation, when `bytes` of panels still fit under the bound.
   */
  admit(handle: WasmHandle, transposed: boolean, bytes: number): boolean {
    const orientation: Orientation = transposed ? "transposed" : "plain";
    let orientations = this.seen.get(handle);
    if (orientations === undefined) {
      orientations = new Set();
      this.seen.set(handle, orientations);
    }
    if (!orientations.has(orientation)) {
      orientations.add(orientation);
      return false;
    }
    if (this.usedBytes + bytes > this.limitBytes) {
      this.skipped++;
      return false;
    }
    return true;
  }

  /** Allocates the buffer for a new entry (the caller fills it with `packPanels`). */
  insert(handle: WasmHandle, transposed: boolean, bytes: number): number {
    const offset = this.heap.allocate(bytes);
    let byOrientation = this.entries.get(handle);
    if (byOrientation === undefined) {
      byOrientation = new Map();
      this.entries.set(handle, byOrientation);
    }
    byOrientation.set(transposed ? "transposed" : "plain", { offset, bytes });
    this.usedBytes += bytes;
    this.packed++;
    return offset;
  }

  /** Releases the entries of a storage (its tensor was disposed). */
  release(handle: WasmHandle): void {
    const byOrientation = this.entries.get(handle);
    if (byOrientation === undefined) return;
    for (const entry of byOrientation.values()) {
      this.heap.free(entry.offset);
      this.usedBytes -= entry.bytes;
    }
    this.entries.delete(handle);
  }

  /** Releases every entry. */
  clear(): void {
    for (const handle of [...this.entries.keys()]) this.release(handle);
  }

  /** Entries, bytes and use counts. */
  statistics(): PackedPanelStatistics {
    let entries = 0;
    for (const byOrientation of this.entries.values()) entries += byOrientation.size;
    return {
      entries,
      bytes: this.usedBytes,
      limitBytes: this.limitBytes,
      hits: this.hits,
      packed: this.packed,
      skipped: this.skipped,
    };
  }
}
