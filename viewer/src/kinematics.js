// Forward kinematics of axis-angle poses on the server's rest skeleton (GET /skeleton), the same
// recursion as signavatar.body.skeleton.forward_kinematics:
//   G_0 = R_0, p_0 = rest_0 + trans;  G_j = G_parent R_j,  p_j = p_parent + G_parent (rest_j - rest_parent).

import { Box3, Quaternion, Vector3 } from 'three';

/**
 * Joint positions and global rotations of every frame of `clip`.
 * Returns {positions: Float32Array [T * J * 3], rotations: Float32Array [T * J * 4] (x, y, z, w)}.
 */
export function forwardKinematics(clip, skeleton) {
  const { parents } = skeleton;
  const rest = skeleton.rest_joints;
  const numJoints = parents.length;
  const offsets = rest.map((p, j) => (j === 0 ? new Vector3() : new Vector3(
    p[0] - rest[parents[j]][0], p[1] - rest[parents[j]][1], p[2] - rest[parents[j]][2])));
  const positions = new Float32Array(clip.numFrames * numJoints * 3);
  const rotations = new Float32Array(clip.numFrames * numJoints * 4);
  const global = Array.from({ length: numJoints }, () => new Quaternion());
  const joint = Array.from({ length: numJoints }, () => new Vector3());
  const local = new Quaternion();
  const axis = new Vector3();
  const step = new Vector3();

  for (let t = 0; t < clip.numFrames; t += 1) {
    for (let j = 0; j < numJoints; j += 1) {
      const k = (t * numJoints + j) * 3;
      axis.set(clip.poses[k], clip.poses[k + 1], clip.poses[k + 2]);
      const angle = axis.length();
      if (angle > 1e-8) local.setFromAxisAngle(axis.divideScalar(angle), angle);
      else local.identity();
      const parent = parents[j];
      if (parent < 0) {
        global[j].copy(local);
        joint[j].set(rest[j][0] + clip.trans[t * 3], rest[j][1] + clip.trans[t * 3 + 1],
          rest[j][2] + clip.trans[t * 3 + 2]);
      } else {
        step.copy(offsets[j]).applyQuaternion(global[parent]);
        joint[j].copy(joint[parent]).add(step);
        global[j].copy(global[parent]).multiply(local);
      }
      joint[j].toArray(positions, k);
      global[j].toArray(rotations, (t * numJoints + j) * 4);
    }
  }
  return { positions, rotations };
}

/** The box around points `indices` of flat per-frame positions `points` [T * N * 3] over all T frames. */
export function boxOver(points, numPoints, indices, numFrames, box = new Box3()) {
  const p = new Vector3();
  for (let t = 0; t < numFrames; t += 1) {
    for (const i of indices) box.expandByPoint(p.fromArray(points, (t * numPoints + i) * 3));
  }
  return box;
}
