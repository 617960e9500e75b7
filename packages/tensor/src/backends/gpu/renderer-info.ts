/**
 * What the graphics device behind a gpu.js instance is, so that a software rasteriser (SwiftShader, llvmpipe)
 * is visible in the backend's availability report instead of passing for a GPU.
 */

/** The renderer description and whether it is a CPU implementation of the graphics API. */
export interface RendererInfo {
  /** e.g. `"ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)"`. */
  readonly renderer: string;
  /** True for SwiftShader, llvmpipe, softpipe and other software renderers. */
  readonly software: boolean;
}

interface WebGlLike {
  readonly RENDERER: number;
  getParameter(name: number): unknown;
  getExtension(name: string): unknown;
}

const softwareRenderers = /swiftshader|llvmpipe|softpipe|software|basic render/i;

/** Classifies a renderer description. */
export function classifyRenderer(renderer: string): RendererInfo {
  return { renderer, software: softwareRenderers.test(renderer) };
}

/**
 * The renderer of a WebGL/WebGL2/headless-gl context (the unmasked name where the browser exposes
 * `WEBGL_debug_renderer_info`), or `undefined` when `context` is not a GL context.
 */
export function glRendererInfo(context: unknown): RendererInfo | undefined {
  const gl = context as Partial<WebGlLike> | null | undefined;
  if (gl == null || typeof gl.getParameter !== "function" || typeof gl.getExtension !== "function")
    return undefined;
  const debugInfo = gl.getExtension("WEBGL_debug_renderer_info") as {
    UNMASKED_RENDERER_WEBGL: number;
  } | null;
  const renderer = gl.getParameter(debugInfo ? debugInfo.UNMASKED_RENDERER_WEBGL : (gl.RENDERER as number));
  return typeof renderer === "string" ? classifyRenderer(renderer) : undefined;
}

/** The WebGPU adapter's description (`GPUAdapter.info`), or `undefined` where WebGPU is absent. */
export async function webGpuRendererInfo(): Promise<RendererInfo | undefined> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
  if (gpu === undefined) return undefined;
  const adapter = (await gpu.requestAdapter()) as {
    info?: { vendor?: string; architecture?: string; description?: string };
  } | null;
  const info = adapter?.info;
  if (info === undefined) return undefined;
  const renderer = [info.vendor, info.architecture, info.description]
    .filter((part) => part !== undefined && part !== "")
    .join(" ");
  return classifyRenderer(renderer);
}
