// Motion clips in the page: {gloss, clipId, fps, numFrames, poses, trans, segments} with `poses` a
// flat Float32Array [T * 55 * 3] of axis-angle (SMPL-X joint order), `trans` a flat [T * 3] and
// `segments` null or, for a signed sentence, [{gloss, start, end, kind}] (frames [start, end),
// kind 'sign' or 'transition'). Sources: the API's JSON clips (signavatar.motion.json_io) and
// AMASS-style .npz files.

import { readNpz } from './npz.js';

const NUM_JOINTS = 55;

function flat(nested) {
  return Float32Array.from(nested.flat(Infinity));
}

function checkSegments(segments, numFrames, what) {
  if (segments == null) return null;
  if (!Array.isArray(segments)) throw new Error(`${what}: segments are not a list`);
  let end = 0;
  return segments.map((s, i) => {
    const segment = { gloss: String(s?.gloss ?? ''), start: Number(s?.start), end: Number(s?.end), kind: s?.kind };
    const fits = Number.isInteger(segment.start) && Number.isInteger(segment.end)
      && end <= segment.start && segment.start < segment.end && segment.end <= numFrames;
    if (!fits || !['sign', 'transition'].includes(segment.kind)) {
      throw new Error(`${what}: segment ${i} ${JSON.stringify(s)} does not fit ${numFrames} frames in order`);
    }
    end = segment.end;
    return segment;
  });
}

function makeClip({ gloss, clipId, fps, poses, trans, segments }, what) {
  const numFrames = poses.length / (NUM_JOINTS * 3);
  if (!Number.isInteger(numFrames) || numFrames < 1) {
    throw new Error(`${what}: poses hold ${poses.length} numbers, not T x ${NUM_JOINTS} x 3`);
  }
  if (trans && trans.length !== numFrames * 3) {
    throw new Error(`${what}: trans holds ${trans.length} numbers for ${numFrames} frames`);
  }
  if (!(fps > 0)) throw new Error(`${what}: no frame rate`);
  return {
    gloss, clipId, fps, numFrames, poses,
    trans: trans ?? new Float32Array(numFrames * 3),
    segments: checkSegments(segments, numFrames, what),
  };
}

/** The segment shown at `frame` of `clip` and its index, or null (a clip without segments). */
export function segmentAt(clip, frame) {
  const index = clip.segments?.findIndex((s) => s.start <= frame && frame < s.end) ?? -1;
  return index < 0 ? null : { index, segment: clip.segments[index] };
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
    segments: data.segments,
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
    segments: arrays.segments?.data,
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
