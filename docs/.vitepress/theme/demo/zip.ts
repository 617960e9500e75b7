/**
 * A minimal ZIP writer (PKWARE APPNOTE 6.3.x, "stored" entries only, no compression, no ZIP64): enough to
 * hand a browser user a folder of small files as one download.
 */

/** One file of the archive. */
export interface ZipEntry {
  /** Path inside the archive, `/`-separated (e.g. `my-adapter/adapter_config.json`). */
  readonly path: string;
  /** The file's bytes. */
  readonly data: Uint8Array;
}

const crcTable = (() => {
  // CRC-32 (IEEE 802.3), reflected polynomial 0xEDB88320, one table entry per byte value.
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let value = byte;
    for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
    table[byte] = value >>> 0;
  }
  return table;
})();

/** The CRC-32 that ZIP, gzip and PNG use (`crc32("123456789") = 0xCBF43926`). */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** MS-DOS date and time fields of `date` (local time, 2-second resolution, years 1980–2107). */
function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.min(Math.max(date.getFullYear(), 1980), 2107);
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

/**
 * Writes a ZIP archive of stored (uncompressed) entries: a local header and the data for each file, then the
 * central directory and its end record. File names are UTF-8 (general-purpose flag bit 11).
 *
 * @throws RangeError when the archive would need ZIP64 (more than 65 535 entries or 4 GiB).
 */
export function createZip(entries: readonly ZipEntry[], modified: Date = new Date()): Uint8Array {
  if (entries.length > 0xffff)
    throw new RangeError(`${entries.length} entries exceed the 65535 a ZIP holds without ZIP64`);
  const encoder = new TextEncoder();
  const stamp = dosDateTime(modified);
  const prepared = entries.map((entry) => ({
    name: encoder.encode(entry.path),
    data: entry.data,
    crc: crc32(entry.data),
  }));
  const localSize = prepared.reduce((total, entry) => total + 30 + entry.name.length + entry.data.length, 0);
  const centralSize = prepared.reduce((total, entry) => total + 46 + entry.name.length, 0);
  const totalSize = localSize + centralSize + 22;
  if (totalSize > 0xffffffff) throw new RangeError(`a ${totalSize}-byte archive needs ZIP64`);
  const bytes = new Uint8Array(totalSize);
  const view = new DataView(bytes.buffer);
  let offset = 0;
  const offsets: number[] = [];
  for (const entry of prepared) {
    offsets.push(offset);
    view.setUint32(offset, 0x04034b50, true); // local file header signature
    view.setUint16(offset + 4, 20, true); // version needed: 2.0
    view.setUint16(offset + 6, 0x0800, true); // flags: UTF-8 names
    view.setUint16(offset + 8, 0, true); // method: stored
    view.setUint16(offset + 10, stamp.time, true);
    view.setUint16(offset + 12, stamp.date, true);
    view.setUint32(offset + 14, entry.crc, true);
    view.setUint32(offset + 18, entry.data.length, true); // compressed size
    view.setUint32(offset + 22, entry.data.length, true); // uncompressed size
    view.setUint16(offset + 26, entry.name.length, true);
    view.setUint16(offset + 28, 0, true); // extra field length
    bytes.set(entry.name, offset + 30);
    bytes.set(entry.data, offset + 30 + entry.name.length);
    offset += 30 + entry.name.length + entry.data.length;
  }
  const centralStart = offset;
  prepared.forEach((entry, index) => {
    view.setUint32(offset, 0x02014b50, true); // central directory header signature
    view.setUint16(offset + 4, 20, true); // version made by
    view.setUint16(offset + 6, 20, true); // version needed
    view.setUint16(offset + 8, 0x0800, true);
    view.setUint16(offset + 10, 0, true);
    view.setUint16(offset + 12, stamp.time, true);
    view.setUint16(offset + 14, stamp.date, true);
    view.setUint32(offset + 16, entry.crc, true);
    view.setUint32(offset + 20, entry.data.length, true);
    view.setUint32(offset + 24, entry.data.length, true);
    view.setUint16(offset + 28, entry.name.length, true);
    // extra length, comment length, disk number, internal attributes: 0
    view.setUint32(offset + 38, 0, true); // external attributes
    view.setUint32(offset + 42, offsets[index] as number, true); // local header offset
    bytes.set(entry.name, offset + 46);
    offset += 46 + entry.name.length;
  });
  view.setUint32(offset, 0x06054b50, true); // end of central directory signature
  view.setUint16(offset + 8, prepared.length, true); // entries on this disk
  view.setUint16(offset + 10, prepared.length, true); // entries in total
  view.setUint32(offset + 12, offset - centralStart, true); // central directory size
  view.setUint32(offset + 16, centralStart, true); // central directory offset
  return bytes;
}
