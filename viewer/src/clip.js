// Motion clips in the page: {gloss, clipId, fps, numFrames, poses, trans} with `poses` a flat
// Float32Array [T * 55 * 3] of axis-angle (SMPL-X joint order) and `trans` a flat [T * 3].
// Sources: the API's JSON clips (signavatar.motion.json_io) and AMASS-style .npz files.

import { readNpz } from './npz.js';

const NUM_JOINTS = 55;

function flat(nested) {
  return Float32Array.from(nested.flat(Infinity));
}

function makeClip({ gloss, clipId, fps, poses, trans }, what) {
  const numFrames = poses.length / (NUM_JOINTS * 3);
  if (!Number.isInteger(numFrames) || numFrames < 1) {
    throw new Error(`${what}: poses hold ${poses.length} numbers, not T x ${NUM_JOINTS} x 3`);
  }
  if (trans && trans.length !== numFrames * 3) {
    throw new Error(`${what}: trans holds ${trans.length} numbers for ${numFrames} frames`);
  }
  if (!(fps > 0)) throw new Error(`${what}: no frame rate`);
  return { gloss, clipId, fps, numFrames, poses, trans: trans ?? new Float32Array(numFrames * 3) };
}

/** A clip from the API's JSON (a MotionClipJSON object). */
export function clipFromJSON(data, what = 'clip') {
  if (!data || !Array.isArray(data.poses)) throw new Error(`${what}: field 'poses' is missing`);
  return makeClip({
    gloss: data.gloss ?? '',
    clipId: data.clip_id ?? what,
    fps: Number(data.fps),
    poses: flat(data.poses),
    trans: Array.isArray(data.trans) ? flat(data.trans) : null,
  }, what);
}

function scalar(array) {
  return array === undefined ? undefined : array.data[0];
}

/** A clip from AMASS-style .npz bytes (ours, or a plain AMASS SMPL-X file). */
export async function clipFromNpz(bytes, name) {
  const arrays = await readNpz(bytes);
  if (!arrays.poses) throw new Error(`${name}: no 'poses' array in the npz`);
  if (arrays.poses.shape.at(-1) !== NUM_JOINTS * 3) {
    throw new Error(`${name}: poses have shape [${arrays.poses.shape}], expected [T, ${NUM_JOINTS * 3}]`);
  }
  return makeClip({
    gloss: scalar(arrays.gloss) ?? '',
    clipId: scalar(arrays.clip_id) ?? name,
    fps: Number(scalar(arrays.mocap_framerate) ?? scalar(arrays.mocap_frame_rate)),
    poses: Float32Array.from(arrays.poses.data),
    trans: arrays.trans ? Float32Array.from(arrays.trans.data) : null,
  }, name);
}

/** A clip from an uploaded .npz or .json file. */
export async function clipFromFile(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (file.name.toLowerCase().endsWith('.json')) {
    return clipFromJSON(JSON.parse(new TextDecoder().decode(bytes)), file.name);
  }
  return clipFromNpz(bytes, file.name);
}
