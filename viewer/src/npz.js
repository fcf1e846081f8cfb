// A small reader of NumPy .npz files (a zip of .npy files, stored or deflated, as np.savez and
// np.savez_compressed write them), enough for motion clips: little-endian numbers, booleans and
// unicode strings, C order.

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

/** One .npy file: {dtype, shape, data} with `data` a typed array, or an array of strings for 'U'. */
export function readNpy(bytes) {
  if (bytes[0] !== 0x93 || new TextDecoder().decode(bytes.subarray(1, 6)) !== 'NUMPY') {
    throw new Error('not a .npy file');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '')
    .split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (!descr) throw new Error(`unreadable .npy header ${header}`);
  if (fortran) throw new Error('Fortran-ordered arrays are not supported');
  const order = descr[0];
  const kind = descr.slice(1);
  if (order === '>') throw new Error(`big-endian dtype ${descr} not supported`);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = bytes.slice(headerStart + headerLength); // a copy: aligned for typed arrays
  if (kind[0] === 'U') {
    const chars = Number(kind.slice(1));
    const codes = new Uint32Array(body.buffer, 0, count * chars);
    const strings = [];
    for (let i = 0; i < count; i += 1) {
      const item = Array.from(codes.subarray(i * chars, (i + 1) * chars)).filter((c) => c !== 0);
      strings.push(String.fromCodePoint(...item));
    }
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
