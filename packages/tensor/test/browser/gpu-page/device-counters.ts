/**
 * Counts the textures and buffers that actually exist on the device, by wrapping the WebGL and WebGPU
 * allocation calls. Installed before gpu.js creates any context, so every texture/buffer is seen.
 */
export interface DeviceCounters {
  /** WebGL/WebGL2 textures created minus deleted. */
  readonly liveTextures: number;
  /** WebGPU buffers created minus destroyed. */
  readonly liveBuffers: number;
}

let liveTextures = 0;
let liveBuffers = 0;

function wrapTextures(prototype: WebGLRenderingContext | WebGL2RenderingContext | undefined): void {
  if (prototype === undefined) return;
  const create = prototype.createTexture;
  const remove = prototype.deleteTexture;
  prototype.createTexture = function createTexture(this: WebGLRenderingContext) {
    const texture = create.call(this);
    if (texture !== null) liveTextures++;
    return texture;
  };
  prototype.deleteTexture = function deleteTexture(
    this: WebGLRenderingContext,
    texture: WebGLTexture | null,
  ) {
    if (texture !== null && this.isTexture(texture)) liveTextures--;
    remove.call(this, texture);
  };
}

interface BufferLike {
  destroy(): void;
}

interface DeviceLike {
  createBuffer(descriptor: unknown): BufferLike;
}

function wrapBuffers(): void {
  // WebGPU's classes exist only where the browser exposes WebGPU (a secure context with the flags on).
  const scope = globalThis as {
    GPUDevice?: { prototype: DeviceLike };
    GPUBuffer?: { prototype: BufferLike };
  };
  if (scope.GPUDevice === undefined || scope.GPUBuffer === undefined) return;
  const destroyed = new WeakSet<BufferLike>();
  const create = scope.GPUDevice.prototype.createBuffer;
  const destroy = scope.GPUBuffer.prototype.destroy;
  scope.GPUDevice.prototype.createBuffer = function createBuffer(this: DeviceLike, descriptor: unknown) {
    const buffer = create.call(this, descriptor);
    liveBuffers++;
    return buffer;
  };
  scope.GPUBuffer.prototype.destroy = function destroyBuffer(this: BufferLike) {
    if (!destroyed.has(this)) {
      destroyed.add(this);
      liveBuffers--;
    }
    destroy.call(this);
  };
}

/** Installs the counters (once). */
export function installDeviceCounters(): void {
  wrapTextures(globalThis.WebGLRenderingContext?.prototype);
  wrapTextures(globalThis.WebGL2RenderingContext?.prototype);
  wrapBuffers();
}

/** The current counts. */
export function deviceCounters(): DeviceCounters {
  return { liveTextures, liveBuffers };
}
