// A small reader of NumPy .npz files (a zip of .npy files, stored or deflated, as np.savez and
// np.savez_compressed write them), enough for motion clips: little-endian numbers, booleans,
// unicode strings and 1-d structured arrays of those (a sentence's `segments`), C order.

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const ZIP64_EXTRA = 0x0001;
const U32_MAX = 0xffffffff;

function endOfCentralDirectory(view) {
  for (let at = view.byteLength - 22; at >= Math.max(0, view.byteLength - 22 - 0xffff); at -= 1) {
    if (view.getUint32(at, true) === EOCD) return at;
  }
  throw new Error('not a zip archive (no end of central directory)');
}

/** Sizes and offset of a central-directory entry, reading the zip64 extra field where needed. */
function entrySizes(view, at, extraStart, extraLength) {
  let compressed = view.getUint32(at + 20, true);
  let size = view.getUint32(at + 24, true);
  let offset = view.getUint32(at + 42, true);
  for (let p = extraStart; p < extraStart + extraLength; p += 4 + view.getUint16(p + 2, true)) {
    if (view.getUint16(p, true) !== ZIP64_EXTRA) continue;
    let q = p + 4;
    const next = () => { const v = Number(view.getBigUint64(q, true)); q += 8; return v; };
    if (size === U32_MAX) size = next();
    if (compressed === U32_MAX) compressed = next();
    if (offset === U32_MAX) offset = next();
  }
  return { compressed, size, offset };
}

async function inflateRaw(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The files of a zip archive: name -> bytes. */
export async function readZip(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = endOfCentralDirectory(view);
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const files = {};
  for (let i = 0; i < count; i += 1) {
    if (view.getUint32(at, true) !== CENTRAL) throw new Error('corrupt zip central directory');
    const method = view.getUint16(at + 10, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    const { compressed, offset } = entrySizes(view, at, at + 46 + nameLength, extraLength);
    if (view.getUint32(offset, true) !== LOCAL) throw new Error(`corrupt zip entry ${name}`);
    const dataStart = offset + 30 + view.getUint16(offset + 26, true) + view.getUint16(offset + 28, true);
    const data = bytes.subarray(dataStart, dataStart + compressed);
    if (method === 0) files[name] = data;
    else if (method === 8) files[name] = await inflateRaw(data);
    else throw new Error(`zip entry ${name}: compression method ${method} not supported`);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return files;
}

const NUMERIC = {
  f4: Float32Array, f8: Float64Array, i1: Int8Array, i2: Int16Array, i4: Int32Array, i8: BigInt64Array,
  u1: Uint8Array, u2: Uint16Array, u4: Uint32Array, u8: BigUint64Array, b1: Uint8Array,
};

const ITEM_SIZE = { f4: 4, f8: 8, i1: 1, i2: 2, i4: 4, i8: 8, u1: 1, u2: 2, u4: 4, u8: 8, b1: 1 };

function unicode(codes) {
  return String.fromCodePoint(...Array.from(codes).filter((c) => c !== 0));
}

/** The decoder of one little-endian scalar field `kind` ('f4', 'i4', 'U10', ...) and its size in bytes. */
function field(kind) {
  if (kind[0] === 'U') {
    const chars = Number(kind.slice(1));
    const read = (view, at) => unicode(Array.from({ length: chars }, (_, i) => view.getUint32(at + 4 * i, true)));
    return { size: 4 * chars, read };
  }
  const readers = {
    f4: (v, at) => v.getFloat32(at, true), f8: (v, at) => v.getFloat64(at, true), i1: (v, at) => v.getInt8(at),
    i2: (v, at) => v.getInt16(at, true), i4: (v, at) => v.getInt32(at, true), u1: (v, at) => v.getUint8(at),
    u2: (v, at) => v.getUint16(at, true), u4: (v, at) => v.getUint32(at, true), b1: (v, at) => v.getUint8(at) !== 0,
    i8: (v, at) => Number(v.getBigInt64(at, true)), u8: (v, at) => Number(v.getBigUint64(at, true)),
  };
  if (!readers[kind]) throw new Error(`dtype ${kind} not supported`);
  return { size: ITEM_SIZE[kind], read: readers[kind] };
}

/** Records of a structured dtype `[('name', '<i4'), ...]` as plain objects. */
function readRecords(descr, body, count) {
  const fields = [...descr.matchAll(/\(\s*'([^']*)'\s*,\s*'([<>|=]?)([^']+)'\s*\)/g)].map(([, name, order, kind]) => {
    if (order === '>') throw new Error(`big-endian field ${name} not supported`);
    return { name, ...field(kind) };
  });
  if (!fields.length) throw new Error(`unreadable structured dtype ${descr}`);
  const recordSize = fields.reduce((total, f) => total + f.size, 0);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return Array.from({ length: count }, (_, i) => {
    const record = {};
    let at = i * recordSize;
    for (const f of fields) {
      record[f.name] = f.read(view, at);
      at += f.size;
    }
    return record;
  });
}

/**
 * One .npy file: {dtype, shape, data} with `data` a typed array, an array of strings for 'U', or
 * an array of objects for a structured dtype.
 */
export function readNpy(bytes) {
  if (bytes[0] !== 0x93 || new TextDecoder().decode(bytes.subarray(1, 6)) !== 'NUMPY') {
    throw new Error('not a .npy file');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
  const structured = /'descr':\s*(\[.*\])\s*,\s*'fortran_order'/.exec(header)?.[1];
  const descr = structured ?? /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!descr) throw new Error(`unreadable .npy header ${header}`);
  if (fortran) throw new Error('Fortran-ordered arrays are not supported');
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.slice(headerStart + headerLength); // a copy: aligned for typed arrays
  if (structured) return { dtype: descr, shape, data: readRecords(descr, body, count) };
  const order = descr[0];
  const kind = descr.slice(1);
  if (order === '>') throw new Error(`big-endian dtype ${descr} not supported`);
  if (kind[0] === 'U') {
    const chars = Number(kind.slice(1));
    const codes = new Uint32Array(body.buffer, 0, count * chars);
    const strings = [];
    for (let i = 0; i < count; i += 1) strings.push(unicode(codes.subarray(i * chars, (i + 1) * chars)));
    return { dtype: descr, shape, data: strings };
  }
  const Type = NUMERIC[kind];
  if (!Type) throw new Error(`dtype ${descr} not supported`);
  return { dtype: descr, shape, data: new Type(body.buffer, 0, count) };
}

/** The arrays of an .npz file: key (file name without .npy) -> {dtype, shape, data}. */
export async function readNpz(bytes) {
  const files = await readZip(bytes);
  const arrays = {};
  for (const [name, data] of Object.entries(files)) {
    if (name.endsWith('.npy')) arrays[name.slice(0, -4)] = readNpy(data);
  }
  return arrays;
}
