// SMPL-X clip -> avatar bone rotations, with the parameters the server ships in the avatar's .glb
// (asset.extras.retarget, from signavatar.avatar.retarget.retarget_parameters): the same steps as
// signavatar.avatar.retarget.retarget, which tests/test_viewer.py checks this against.
//   A_c = G_driver(c) C_c for every bone; the forearm twist bone takes half the twist between the
//   forearm and the hand; the root sits where the pelvis carries it; the collar bones turn by the
//   smallest rotation that points them at SMPL-X's shoulders; local rotations L_c = A_parent^-1 A_c.

import { Quaternion, Vector3 } from 'three';

import { forwardKinematics } from './kinematics.js';

/** The twist angle about unit `axis` of rotation `q` (a quaternion taken with w >= 0). */
function twistAngle(q, axis) {
  const sign = q.w < 0 ? -1 : 1;
  return 2 * Math.atan2(sign * (q.x * axis.x + q.y * axis.y + q.z * axis.z), sign * q.w);
}

/**
 * The avatar's pose at every frame of `clip`: {local: Float32Array [T * B * 4] (x, y, z, w)
 * parent-relative rotations, root: Float32Array [T * 3] root bone positions, heads: Float32Array
 * [T * B * 3] bone positions}. `skeleton` is GET /skeleton's body, `params` the avatar's.
 */
export function retarget(clip, skeleton, params) {
  const { positions, rotations } = forwardKinematics(clip, skeleton);
  const numJoints = skeleton.parents.length;
  const { parents, drivers } = params;
  const numBones = parents.length;
  const heads = params.heads.map((h) => new Vector3(...h));
  const offsets = heads.map((h, c) => (c === 0 ? new Vector3() : h.clone().sub(heads[parents[c]])));
  const alignment = params.alignment.map((q) => new Quaternion(...q));
  const twists = params.twist.map((t) => ({ ...t, axis: new Vector3(...t.axis) }));
  const rootOffset = new Vector3(...params.root_offset);

  const local = new Float32Array(clip.numFrames * numBones * 4);
  const root = new Float32Array(clip.numFrames * 3);
  const allHeads = new Float32Array(clip.numFrames * numBones * 3);
  const world = Array.from({ length: numBones }, () => new Quaternion());
  const at = Array.from({ length: numBones }, () => new Vector3());
  const joint = (t, j, out) => out.fromArray(positions, (t * numJoints + j) * 3);
  const jointRotation = (t, j, out) => out.fromArray(rotations, (t * numJoints + j) * 4);
  const g = new Quaternion();
  const q = new Quaternion();
  const v = new Vector3();
  const w = new Vector3();

  const place = () => { // bone heads from the world rotations, the root at at[0]
    for (let c = 1; c < numBones; c += 1) at[c].copy(offsets[c]).applyQuaternion(world[parents[c]]).add(at[parents[c]]);
  };
  for (let t = 0; t < clip.numFrames; t += 1) {
    for (let c = 0; c < numBones; c += 1) world[c].multiplyQuaternions(jointRotation(t, drivers[c], g), alignment[c]);
    for (const { bone, own, next, axis } of twists) {
      q.copy(world[own]).invert().multiply(world[next]);
      world[bone].copy(world[own]).multiply(g.setFromAxisAngle(axis, twistAngle(q, axis) / 2));
    }
    at[0].copy(rootOffset).applyQuaternion(jointRotation(t, 0, g)).add(joint(t, 0, v));
    place();
    for (const { clavicle, scapula, shoulder, joint: j } of params.aim) {
      v.subVectors(at[shoulder], at[clavicle]).normalize();
      joint(t, j, w).sub(at[clavicle]).normalize();
      g.setFromUnitVectors(v, w);
      world[clavicle].premultiply(g);
      world[scapula].premultiply(g);
    }
    place();
    at[0].toArray(root, t * 3);
    for (let c = 0; c < numBones; c += 1) {
      if (c === 0) q.copy(world[0]);
      else q.copy(world[parents[c]]).invert().multiply(world[c]);
      q.toArray(local, (t * numBones + c) * 4);
      at[c].toArray(allHeads, (t * numBones + c) * 3);
    }
  }
  return { local, root, heads: allHeads };
}
