// Child process for the kill tests: streams a large safetensors file over an existing one, slowly, announcing
// on stdout when tensor data is being written so the parent can kill it (SIGKILL, SIGINT, ...) mid-write.
import { temporaryPaths, writeSafetensorsFile } from "../../dist/node.js";

const [target, mode] = process.argv.slice(2);
// "own-listener": the application handles SIGINT itself (and exits after a moment, without the write).
if (mode === "own-listener") {
  process.on("SIGINT", () => {
    process.stdout.write(`temporaries ${JSON.stringify(temporaryPaths())}\n`);
    process.exit(3);
  });
}
const chunk = new Uint8Array(1 << 20).fill(7);
const tensors = {};
for (let index = 0; index < 64; index++) {
  tensors[`layer.${index}`] = {
    dtype: "U8",
    shape: [4 << 20],
    data: async function* () {
      for (let part = 0; part < 4; part++) {
        if (index === 1 && part === 0) process.stdout.write("writing\n");
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield chunk;
      }
    },
  };
}
await writeSafetensorsFile(target, tensors, { note: "new" });
process.stdout.write("finished\n");
