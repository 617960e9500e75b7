import { setBackend } from "@peftjs/tensor";
import { loadModel } from "@peftjs/models/node";
import { generateBatch, generate } from "@peftjs/models";
import { LoraModel } from "./dist/index.js";
import { loadPeftAdapter } from "./dist/node.js";
const backend = process.argv[2] ?? "wasm";
await setBackend(backend);
const model = await loadModel("test/fixtures/stories260k");
const lora = LoraModel.create(model);
lora.loadAdapter("a", await loadPeftAdapter("test/fixtures/peft/lora_default/adapter_trained"));
lora.loadAdapter("b", await loadPeftAdapter("test/fixtures/peft/combine_more/adapter_b_trained"));
const T = 64;
const ids = Array.from({ length: 4 }, (_, r) => [1, ...Array.from({ length: T - 1 }, (_, i) => 260 + ((i * 7 + r * 13) % 200))]);
const names = ["a", "b", "__base__", "a"];
const time = (label, fn, reps = 25) => {
  for (let i = 0; i < 3; i++) fn();
  const all = [];
  for (let i = 0; i < reps; i++) { const start = performance.now(); fn(); all.push(performance.now() - start); }
  all.sort((x, y) => x - y);
  console.log(JSON.stringify({ backend, label, min_ms: Number(all[0].toFixed(2)), median_ms: Number(all[reps >> 1].toFixed(2)) }));
};
const read = (t) => { t.toFloat32Array(); t.dispose(); };
lora.setActiveAdapters("a");
time("batch4_one_adapter_active", () => read(model.forward(ids)));
time("batch4_mixed_a_b_base_a", () => read(lora.forward(ids, { adapterNames: names })));
time("batch4_all_rows_a_by_names", () => read(lora.forward(ids, { adapterNames: ["a", "a", "a", "a"] })));
time("4_single_row_forwards_switching", () => {
  for (const [row, name] of names.entries()) {
    if (name === "__base__") lora.disableAdapters(); else lora.setActiveAdapters(name);
    read(model.forward([ids[row]]));
    lora.enableAdapters();
  }
});
const prompt = [1, 403, 407];
let s = performance.now();
await lora.withAdapterNames(names, () => generateBatch(model, names.map(() => prompt), { maxNewTokens: 64, stopTokens: [] }));
console.log(JSON.stringify({ backend, label: "generateBatch_mixed_4rows_64tokens", ms: Number((performance.now() - s).toFixed(1)) }));
s = performance.now();
for (const name of names) {
  if (name === "__base__") lora.disableAdapters(); else lora.setActiveAdapters(name);
  await generate(model, prompt, { maxNewTokens: 64, stopTokens: [] });
  lora.enableAdapters();
}
console.log(JSON.stringify({ backend, label: "generate_4x_sequential_64tokens", ms: Number((performance.now() - s).toFixed(1)) }));
const b = await loadPeftAdapter("test/fixtures/peft/combine_more/adapter_b_trained");
const a = await loadPeftAdapter("test/fixtures/peft/lora_default/adapter_trained");
let flip = false;
time("hotswap_10_modules", () => { lora.hotswapAdapter("a", flip ? a : b); flip = !flip; });
time("delete_and_load_10_modules", () => { lora.deleteAdapter("a"); lora.loadAdapter("a", flip ? a : b); flip = !flip; });
