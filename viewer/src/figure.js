// One animated skeleton in the scene, drawn like the offline previews
// (signavatar.rendering.skeleton_view, via GET /skeleton): bones as cylinders in the previews'
// colours and thicknesses, joints as small spheres, a head sphere with eyes and nose. Legs are
// left out, as there. The avatar (avatar.js) follows the same forward kinematics; its hands are
// where this skeleton's are, so both frame the hands close-up alike (handBounds).

import {
  CylinderGeometry, Group, Mesh, MeshStandardMaterial, Quaternion, SphereGeometry, Vector3,
} from 'three';
import { boxOver, forwardKinematics } from './kinematics.js';

const UNIT_CYLINDER = new CylinderGeometry(1, 1, 1, 12);
const UNIT_SPHERE = new SphereGeometry(1, 20, 14);
const UP = new Vector3(0, 1, 0);
const JOINT_SCALE = 0.65; // joint sphere radius / bone thickness
const FEATURE_RADIUS_M = 0.012; // eyes and nose
const LABEL_ABOVE_HEAD_M = 0.07;
const HAND_MARGIN_M = 0.05; // around the hand joints: finger tips and the hand's surface
const RAISED_M = 0.2; // a hand whose wrist never rises this far above the pelvis rests: not framed

const materials = new Map();
function material(color) {
  if (!materials.has(color)) materials.set(color, new MeshStandardMaterial({ color, roughness: 0.55 }));
  return materials.get(color);
}

export class SkeletonFigure {
  /** `skeleton` is GET /skeleton's body. */
  constructor(skeleton) {
    this.skeleton = skeleton;
    this.numJoints = skeleton.parents.length;
    this.group = new Group();
    this.clip = null;
    this.frame = -1;

    this.bones = skeleton.bones.map((bone) => {
      const mesh = new Mesh(UNIT_CYLINDER, material(bone.color));
      this.group.add(mesh);
      return { ...bone, mesh };
    });
    // a sphere at every drawn joint, in the colour of the bone ending there (else starting there)
    const jointColor = new Map();
    for (const bone of skeleton.bones) {
      if (!jointColor.has(bone.parent)) jointColor.set(bone.parent, bone);
    }
    for (const bone of skeleton.bones) jointColor.set(bone.child, bone);
    this.joints = [...jointColor].map(([index, bone]) => {
      const mesh = new Mesh(UNIT_SPHERE, material(bone.color));
      mesh.scale.setScalar(bone.width_m * JOINT_SCALE);
      this.group.add(mesh);
      return { index, mesh };
    });

    const { head } = skeleton;
    this.head = new Mesh(UNIT_SPHERE, material(head.color));
    this.head.scale.setScalar(head.radius_m);
    this.features = [...head.eyes, 'nose'].map((which) => {
      const mesh = new Mesh(UNIT_SPHERE, material(head.feature_color));
      mesh.scale.setScalar(FEATURE_RADIUS_M);
      this.group.add(mesh);
      return { which, mesh };
    });
    this.group.add(this.head);
    this.top = new Vector3(); // where the label goes: above the head
    const joints = (side) => skeleton.joint_names.map((name, j) => [name, j])
      .filter(([name]) => new RegExp(`^${side}_(wrist|index|middle|ring|pinky|thumb)`).test(name)).map(([, j]) => j);
    this.hands = [joints('left'), joints('right')]; // each starts with its wrist (SMPL-X order)
  }

  setClip(clip) {
    this.clip = clip;
    ({ positions: this.positions, rotations: this.rotations } = forwardKinematics(clip, this.skeleton));
    this.frame = -1;
    this.setFrame(0);
  }

  /** World-space box around the figure over all frames (for framing the camera). */
  bounds() {
    const box = boxOver(this.positions, this.numJoints, this.joints.map(({ index }) => index), this.clip.numFrames);
    const { head } = this.skeleton;
    box.expandByScalar(head.radius_m);
    box.max.y += head.center_offset[1] + LABEL_ABOVE_HEAD_M;
    return box.translate(this.group.position);
  }

  /** The height of the floor grid: under the figure (legs are not drawn). */
  floor() {
    return this.bounds().min.y;
  }

  /** World-space box around the signing hands over all frames (the hands close-up): both, or the
   *  one that signs while the other rests (its wrist never raised above the pelvis). */
  handBounds() {
    const raised = this.hands.filter(([wrist]) => {
      for (let t = 0; t < this.clip.numFrames; t += 1) {
        const k = t * this.numJoints;
        if (this.positions[(k + wrist) * 3 + 1] - this.positions[k * 3 + 1] > RAISED_M) return true;
      }
      return false;
    });
    const box = boxOver(this.positions, this.numJoints, (raised.length ? raised : this.hands).flat(), this.clip.numFrames);
    return box.expandByScalar(HAND_MARGIN_M).translate(this.group.position);
  }

  point(j, out) {
    return out.fromArray(this.positions, (this.frame * this.numJoints + j) * 3);
  }

  setFrame(frame) {
    if (!this.clip || frame === this.frame) return;
    this.frame = Math.min(Math.max(frame, 0), this.clip.numFrames - 1);
    const a = new Vector3();
    const b = new Vector3();
    for (const bone of this.bones) {
      this.point(bone.parent, a);
      this.point(bone.child, b);
      const length = a.distanceTo(b);
      bone.mesh.position.addVectors(a, b).multiplyScalar(0.5);
      bone.mesh.quaternion.setFromUnitVectors(UP, b.sub(a).divideScalar(Math.max(length, 1e-9)));
      bone.mesh.scale.set(bone.width_m / 2, length, bone.width_m / 2);
    }
    for (const { index, mesh } of this.joints) this.point(index, mesh.position);

    const { head } = this.skeleton;
    const rotation = new Quaternion().fromArray(this.rotations, (this.frame * this.numJoints + head.joint) * 4);
    const headJoint = this.point(head.joint, new Vector3());
    const centre = new Vector3().fromArray(head.center_offset).applyQuaternion(rotation).add(headJoint);
    this.head.position.copy(centre);
    for (const { which, mesh } of this.features) {
      if (which === 'nose') {
        mesh.position.fromArray(head.nose_offset).applyQuaternion(rotation).add(headJoint);
      } else { // eyes sit inside the head sphere: put them on its surface, same direction
        const eye = this.point(which, new Vector3()).sub(centre);
        mesh.position.copy(centre).addScaledVector(eye.normalize(), head.radius_m);
      }
    }
    this.top.copy(centre).add(this.group.position).y += head.radius_m + LABEL_ABOVE_HEAD_M;
  }
}
