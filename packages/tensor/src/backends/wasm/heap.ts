/**
 * A first-fit allocator over one `WebAssembly.Memory`, kept in JavaScript: tensors, scratch panels and the
 * thread-pool control block all live in the same linear memory so that kernels (and workers) address them by
 * byte offset. Blocks are 64-byte aligned (a cache line; more than the 16 bytes that v128 loads like); freed
 * blocks are coalesced with their neighbours; the memory grows (in 64 KiB pages) when no free block fits.
 */

/** Alignment and granularity of every block, in bytes. */
export const blockAlignment = 64;

/** The first usable byte: offset 0 is never handed out, so that 0 can mean "no block". */
const heapStart = 1024;

const pageBytes = 65536;

function alignUp(bytes: number): number {
  return Math.ceil(Math.max(bytes, 1) / blockAlignment) * blockAlignment;
}

/** Heap allocator and typed views over a WebAssembly memory. */
export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  /** Free blocks sorted by offset: [offset, bytes] pairs, never adjacent (they are merged). */
  private readonly freeBlocks: [number, number][] = [];
  /** Sizes of live blocks by offset. */
  private readonly liveBlocks = new Map<number, number>();
  private top = heapStart;
  private liveBytes = 0;
  private cachedBuffer: ArrayBufferLike | undefined;
  private cachedFloat32 = new Float32Array(0);
  private cachedInt32 = new Int32Array(0);
  private cachedBytes = new Uint8Array(0);

  constructor(memory: WebAssembly.Memory) {
    this.memory = memory;
  }

  /** Number of live blocks. */
  get blockCount(): number {
    return this.liveBlocks.size;
  }

  /** Bytes held by live blocks (after alignment). */
  get bytesInUse(): number {
    return this.liveBytes;
  }

  /** Reserves `bytes` (rounded up to 64) and returns the block's byte offset. */
  allocate(bytes: number): number {
    const size = alignUp(bytes);
    for (let index = 0; index < this.freeBlocks.length; index++) {
      const block = this.freeBlocks[index]!;
      if (block[1] < size) continue;
      const offset = block[0];
      if (block[1] === size) this.freeBlocks.splice(index, 1);
      else {
        block[0] += size;
        block[1] -= size;
      }
      return this.track(offset, size);
    }
    const offset = this.top;
    this.ensureCapacity(offset + size);
    this.top = offset + size;
    return this.track(offset, size);
  }

  /** Returns a block to the heap. */
  free(offset: number): void {
    const size = this.liveBlocks.get(offset);
    if (size === undefined) throw new RangeError(`wasm heap: no live block at offset ${offset}`);
    this.liveBlocks.delete(offset);
    this.liveBytes -= size;
    // Insert sorted, then merge with the neighbours.
    let low = 0;
    let high = this.freeBlocks.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.freeBlocks[middle]![0] < offset) low = middle + 1;
      else high = middle;
    }
    this.freeBlocks.splice(low, 0, [offset, size]);
    const next = this.freeBlocks[low + 1];
    const current = this.freeBlocks[low]!;
    if (next !== undefined && current[0] + current[1] === next[0]) {
      current[1] += next[1];
      this.freeBlocks.splice(low + 1, 1);
    }
    const previous = this.freeBlocks[low - 1];
    if (previous !== undefined && previous[0] + previous[1] === current[0]) {
      previous[1] += current[1];
      this.freeBlocks.splice(low, 1);
    }
    // A free block at the top goes back to the bump region.
    const last = this.freeBlocks[this.freeBlocks.length - 1];
    if (last !== undefined && last[0] + last[1] === this.top) {
      this.top = last[0];
      this.freeBlocks.pop();
    }
  }

  /** A Float32Array over the whole memory (recreated after growth). */
  get float32(): Float32Array {
    this.refreshViews();
    return this.cachedFloat32;
  }

  /** An Int32Array over the whole memory (recreated after growth). */
  get int32(): Int32Array {
    this.refreshViews();
    return this.cachedInt32;
  }

  /** A Uint8Array over the whole memory (recreated after growth). */
  get bytes(): Uint8Array {
    this.refreshViews();
    return this.cachedBytes;
  }

  private track(offset: number, size: number): number {
    this.liveBlocks.set(offset, size);
    this.liveBytes += size;
    return offset;
  }

  private ensureCapacity(end: number): void {
    const current = this.memory.buffer.byteLength;
    if (end <= current) return;
    // Grow geometrically (at least 25 %) so that a sequence of allocations grows the memory rarely.
    const needed = Math.ceil((end - current) / pageBytes);
    const pages = Math.max(needed, Math.ceil(current / pageBytes / 4));
    try {
      this.memory.grow(pages);
    } catch {
      this.memory.grow(needed);
    }
  }

  private refreshViews(): void {
    const buffer = this.memory.buffer;
    if (buffer === this.cachedBuffer && this.cachedBytes.byteLength === buffer.byteLength) return;
    this.cachedBuffer = buffer;
    this.cachedFloat32 = new Float32Array(buffer);
    this.cachedInt32 = new Int32Array(buffer);
    this.cachedBytes = new Uint8Array(buffer);
  }
}
