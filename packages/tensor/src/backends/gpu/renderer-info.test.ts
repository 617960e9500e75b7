import { describe, expect, it } from "vitest";
import { classifyRenderer, glRendererInfo } from "./renderer-info.js";

describe("renderer classification", () => {
  it("flags CPU implementations of the graphics APIs", () => {
    expect(
      classifyRenderer(
        "ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)",
      ).software,
    ).toBe(true);
    expect(classifyRenderer("llvmpipe (LLVM 15.0.6, 256 bits)").software).toBe(true);
    expect(
      classifyRenderer("ANGLE (NVIDIA, NVIDIA GeForce RTX 3080 Direct3D11 vs_5_0 ps_5_0, D3D11)").software,
    ).toBe(false);
  });

  it("reads the unmasked renderer of a GL context when the extension exists, else RENDERER", () => {
    const parameters = new Map<number, string>([
      [0x1f01, "WebKit WebGL"],
      [0x9246, "ANGLE (Apple, Apple M2, OpenGL 4.1)"],
    ]);
    const context = (withExtension: boolean) => ({
      RENDERER: 0x1f01,
      getParameter: (name: number) => parameters.get(name),
      getExtension: (name: string) =>
        withExtension && name === "WEBGL_debug_renderer_info" ? { UNMASKED_RENDERER_WEBGL: 0x9246 } : null,
    });
    expect(glRendererInfo(context(true))).toEqual({
      renderer: "ANGLE (Apple, Apple M2, OpenGL 4.1)",
      software: false,
    });
    expect(glRendererInfo(context(false))).toEqual({ renderer: "WebKit WebGL", software: false });
    expect(glRendererInfo(null)).toBeUndefined();
  });
});
