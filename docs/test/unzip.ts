import { crc32 } from "node:zlib";

/** One file read back from a zip. */
export interface UnzippedFile {
  readonly path: string;
  readonly data: Uint8Array;
}

/**
 * Reads a zip of stored (method 0) entries through its central directory, checking every signature, size
 * and CRC-32 (with Node's own `zlib.crc32`, independent of the demo's writer).
 *
 * @throws Error naming the first inconsistency.
 */
export function unzipStored(bytes: Uint8Array): UnzippedFile[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 22;
  if (end < 0 || view.getUint32(end, true) !== 0x06054b50)
    throw new Error("no end-of-central-directory record at the end");
  const count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  const decoder = new TextDecoder();
  const files: UnzippedFile[] = [];
  for (let index = 0; index < count; index++) {
    if (view.getUint32(offset, true) !== 0x02014b50)
      throw new Error(`central header ${index} has a bad signature`);
    const method = view.getUint16(offset + 10, true);
    const crc = view.getUint32(offset + 16, true);
    const size = view.getUint32(offset + 20, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const localOffset = view.getUint32(offset + 42, true);
    const path = decoder.decode(bytes.subarray(offset + 46, offset + 46 + nameLength));
    if (method !== 0) throw new Error(`${path}: method ${method}, expected 0 (stored)`);
    if (view.getUint32(localOffset, true) !== 0x04034b50)
      throw new Error(`${path}: bad local header signature`);
    const localName = view.getUint16(localOffset + 26, true);
    const localExtra = view.getUint16(localOffset + 28, true);
    const start = localOffset + 30 + localName + localExtra;
    const data = bytes.slice(start, start + size);
    if (data.length !== size) throw new Error(`${path}: ${data.length} of ${size} bytes present`);
    if (crc32(data) >>> 0 !== crc) throw new Error(`${path}: CRC-32 ${crc32(data)} ≠ recorded ${crc}`);
    files.push({ path, data });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return files;
}
