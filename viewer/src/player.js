// The timeline: play/pause, the scrub slider and the frame readout. Time runs in seconds and
// loops; the slider and readout count frames of the primary clip (the first one shown).

/** The frame of a clip (`fps`, `numFrames`) shown `time` seconds in: the last one past its end. */
export function frameAt(time, { fps, numFrames }) {
  return Math.min(numFrames - 1, Math.floor(time * fps + 1e-6));
}

export class Player {
  /** `onTime(seconds)` is called whenever the time may have changed. */
  constructor({ button, slider, label, onTime }) {
    Object.assign(this, { button, slider, label, onTime });
    this.fps = 1;
    this.numFrames = 0;
    this.duration = 0;
    this.time = 0;
    this.playing = false;
    button.addEventListener('click', () => this.setPlaying(!this.playing));
    slider.addEventListener('input', () => {
      this.setPlaying(false);
      this.seek(Number(slider.value) / this.fps);
    });
  }

  /** Show a new primary clip; `duration` covers every clip on stage. `keepTime` keeps the position. */
  load({ fps, numFrames }, duration, keepTime = false) {
    Object.assign(this, { fps, numFrames, duration: Math.max(duration, numFrames / fps) });
    this.slider.max = String(numFrames - 1);
    this.slider.disabled = false;
    this.button.disabled = false;
    if (!keepTime) {
      this.time = 0;
      this.setPlaying(true);
    }
    this.seek(this.time);
  }

  setPlaying(playing) {
    this.playing = playing;
    this.button.textContent = playing ? 'Pause' : 'Play';
    this.button.setAttribute('aria-pressed', String(!playing));
    this.onTime(this.time);
  }

  seek(seconds) {
    this.time = Math.min(Math.max(seconds, 0), Math.max(this.duration - 1e-6, 0));
    this.update();
  }

  /** Advance by `dt` seconds of wall time while playing. */
  tick(dt) {
    if (!this.playing || this.duration <= 0) return;
    this.time = (this.time + dt) % this.duration;
    this.update();
  }

  update() {
    const frame = frameAt(this.time, this);
    this.slider.value = String(frame);
    this.label.textContent = `frame ${frame + 1}/${this.numFrames} · ${this.time.toFixed(2)} s`;
    this.onTime(this.time);
  }
}
