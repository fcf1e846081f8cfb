// The 3D scene: figures side by side (left to right as given), an orbit camera framed on them,
// a faint floor grid under them, and the labels over their heads.

import {
  Box3, Color, DirectionalLight, GridHelper, HemisphereLight, PerspectiveCamera, Scene, Vector3, WebGLRenderer,
} from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { CSS2DRenderer } from 'three/addons/renderers/CSS2DRenderer.js';

import { SkeletonFigure } from './figure.js';
import { frameAt } from './player.js';

const BACKGROUND = '#f7f6f2';
const SPACING_M = 1.0; // between figures side by side
const VIEW_DIRECTION = new Vector3(0.3, 0.12, 1).normalize(); // from the target, toward the signer's front
const MARGIN = 1.05; // around the figures' box

export class Stage {
  constructor(host, skeleton) {
    this.host = host;
    this.skeleton = skeleton;
    this.figures = [];
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

  /**
   * Show `items` ([{clip, label}]) side by side. The camera is reframed when the number of
   * figures changes or `reframe` is set; otherwise it stays where the user orbited it.
   */
  show(items, reframe = false) {
    this.resize(); // the video panel may have just opened or closed: frame for the current size
    const changed = items.length !== this.figures.length;
    if (changed) {
      for (const figure of this.figures) {
        figure.group.removeFromParent();
        figure.labelElement.remove(); // CSS2DRenderer leaves removed objects' elements behind
      }
      this.figures = items.map(() => new SkeletonFigure(this.skeleton));
      for (const figure of this.figures) this.scene.add(figure.group);
    }
    items.forEach(({ clip, label }, i) => {
      const figure = this.figures[i];
      figure.group.position.x = (i - (items.length - 1) / 2) * SPACING_M;
      figure.setLabel(label);
      figure.setClip(clip);
    });
    if (changed || reframe) this.frame();
  }

  /** Point the camera at the figures, all of them in view over every frame. */
  frame() {
    const box = new Box3();
    for (const figure of this.figures) box.union(figure.bounds());
    const centre = box.getCenter(new Vector3());
    const size = box.getSize(new Vector3());
    const tan = Math.tan((this.camera.fov * Math.PI) / 360);
    const distance = MARGIN * Math.max(size.y / (2 * tan), size.x / (2 * tan * this.camera.aspect)) + size.z / 2;
    this.controls.target.copy(centre);
    this.camera.position.copy(centre).addScaledVector(VIEW_DIRECTION, distance);
    this.camera.near = distance / 100;
    this.camera.far = distance * 100;
    this.camera.updateProjectionMatrix();
    this.grid.position.set(centre.x, box.min.y, centre.z);
    this.controls.update();
  }

  /** Show frame `time` seconds into each figure's clip. */
  setTime(time) {
    for (const figure of this.figures) {
      figure.setFrame(frameAt(time, figure.clip));
    }
  }

  render() {
    this.controls.update();
    this.renderer.render(this.scene, this.camera);
    this.labels.render(this.scene, this.camera);
  }
}
