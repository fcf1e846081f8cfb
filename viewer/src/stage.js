// The 3D scene: figures side by side (left to right as given), each the signing avatar or, with
// the skeleton switch, the stick figure of the previews; an orbit camera framed on the bodies or,
// with the hands switch, on both hands; a faint floor grid under them, and the labels over their
// heads.

import {
  Box3, Color, DirectionalLight, GridHelper, HemisphereLight, PerspectiveCamera, Scene, Vector3, WebGLRenderer,
} from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { CSS2DObject, CSS2DRenderer } from 'three/addons/renderers/CSS2DRenderer.js';

import { AvatarFigure } from './avatar.js';
import { SkeletonFigure } from './figure.js';
import { frameAt } from './player.js';

const BACKGROUND = '#f7f6f2';
const SPACING_M = 1.0; // between figures side by side
const VIEW_DIRECTION = new Vector3(0.3, 0.12, 1).normalize(); // from the target, toward the signer's front
const HANDS_DIRECTION = new Vector3(0.1, 0.05, 1).normalize(); // the hands close-up: nearly from the front
const MARGIN = 1.05; // around the figures' box

export class Stage {
  /** `skeleton` is GET /skeleton's body; `avatar` the parsed GET avatar.glb (null: skeletons only). */
  constructor(host, skeleton, avatar) {
    this.host = host;
    this.skeleton = skeleton;
    this.avatar = avatar;
    this.items = [];
    this.body = avatar ? 'avatar' : 'skeleton';
    this.closeUp = false;
    this.time = 0;
    this.renderer = new WebGLRenderer({ antialias: true }); // throws where WebGL is unavailable
    this.renderer.setPixelRatio(window.devicePixelRatio);
    host.append(this.renderer.domElement);
    this.labels = new CSS2DRenderer();
    Object.assign(this.labels.domElement.style, { position: 'absolute', top: '0', left: '0', pointerEvents: 'none' });
    host.append(this.labels.domElement);

    this.scene = new Scene();
    this.scene.background = new Color(BACKGROUND);
    this.scene.add(new HemisphereLight('#ffffff', '#b9b4aa', 2.2));
    const sun = new DirectionalLight('#ffffff', 1.6);
    sun.position.set(1, 2, 3);
    this.scene.add(sun);
    this.grid = new GridHelper(4, 40, '#c8c8c3', '#e2e1dc');
    this.scene.add(this.grid);

    this.camera = new PerspectiveCamera(35, 1, 0.01, 100);
    this.camera.position.set(0.6, 0.6, 2.4);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.enableDamping = true;
    this.controls.target.set(0, 0.4, 0);

    new ResizeObserver(() => this.resize()).observe(host);
    this.resize();
  }

  resize() {
    const { clientWidth: width, clientHeight: height } = this.host;
    if (!width || !height) return;
    this.renderer.setSize(width, height);
    this.labels.setSize(width, height);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
  }

  /** The figure drawn for an item: its avatar, or its skeleton. */
  shown(item) {
    return this.body === 'avatar' ? item.avatar : item.skeleton;
  }

  /**
   * Show `items` ([{clip, label}]) side by side. The camera is reframed when the number of
   * figures changes or `reframe` is set; otherwise it stays where the user orbited it.
   */
  show(items, reframe = false) {
    this.resize(); // the video panel may have just opened or closed: frame for the current size
    const changed = items.length !== this.items.length;
    if (changed) {
      for (const item of this.items) {
        for (const figure of [item.skeleton, item.avatar]) figure?.group.removeFromParent();
        item.label.removeFromParent();
        item.label.element.remove(); // CSS2DRenderer leaves removed objects' elements behind
      }
      this.items = items.map(() => {
        const element = Object.assign(document.createElement('div'), { className: 'figure-label' });
        const item = { skeleton: new SkeletonFigure(this.skeleton), label: new CSS2DObject(element),
          avatar: this.avatar ? new AvatarFigure(this.avatar, this.skeleton) : null };
        for (const object of [item.skeleton?.group, item.avatar?.group, item.label]) if (object) this.scene.add(object);
        return item;
      });
    }
    items.forEach(({ clip, label }, i) => {
      const item = this.items[i];
      for (const figure of [item.skeleton, item.avatar]) {
        if (!figure) continue;
        figure.group.position.x = (i - (items.length - 1) / 2) * SPACING_M;
        figure.setClip(clip);
      }
      item.label.element.textContent = label;
    });
    this.setBody(this.body);
    if (changed || reframe) this.frame();
  }

  /** Draw the avatars (`avatar`) or the skeletons (`skeleton`), at the time shown. */
  setBody(body) {
    this.body = this.avatar ? body : 'skeleton';
    for (const item of this.items) {
      item.skeleton.group.visible = this.body === 'skeleton';
      if (item.avatar) item.avatar.group.visible = this.body === 'avatar';
    }
    this.setTime(this.time);
    if (this.items.length) this.frame();
  }

  /** Frame the bodies, or with `closeUp` both hands (over every frame of the clips). */
  setCloseUp(closeUp) {
    this.closeUp = closeUp;
    this.frame();
  }

  /** Point the camera at the figures (or their hands), all of them in view over every frame. */
  frame() {
    const box = new Box3();
    for (const item of this.items) box.union(this.closeUp ? item.skeleton.handBounds() : this.shown(item).bounds());
    if (box.isEmpty()) return;
    const centre = box.getCenter(new Vector3());
    const size = box.getSize(new Vector3());
    const tan = Math.tan((this.camera.fov * Math.PI) / 360);
    const distance = MARGIN * Math.max(size.y / (2 * tan), size.x / (2 * tan * this.camera.aspect)) + size.z / 2;
    this.controls.target.copy(centre);
    this.camera.position.copy(centre).addScaledVector(this.closeUp ? HANDS_DIRECTION : VIEW_DIRECTION, distance);
    this.camera.near = distance / 100;
    this.camera.far = distance * 100;
    this.camera.updateProjectionMatrix();
    if (!this.closeUp) this.grid.position.set(centre.x, Math.min(...this.items.map((i) => this.shown(i).floor())), centre.z);
    this.controls.update();
  }

  /** Show frame `time` seconds into each figure's clip. */
  setTime(time) {
    this.time = time;
    for (const item of this.items) {
      const figure = this.shown(item);
      figure.setFrame(frameAt(time, figure.clip));
      item.label.position.copy(figure.top);
    }
  }

  render() {
    this.controls.update();
    this.renderer.render(this.scene, this.camera);
    this.labels.render(this.scene, this.camera);
  }
}
