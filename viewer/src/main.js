// The viewer page: type a word (or drop an image) and watch the avatar sign it; click known glosses
// to build a sentence and watch it signed, the current gloss under the avatar and the signs on the
// timeline; upload a video or a motion clip and watch its reconstruction beside it; switch to the
// skeleton, frame the hands, download what is shown as .npz, .glb, .bvh or .pose. The first known
// gloss plays on load. `#stage[data-state]` says where the page is: starting, idle, loading, ready
// (an animation is on stage) or error.

import { ApiError, attachmentName, generate, getBytes, getJSON, reconstruct } from './api.js';
import { parseAvatar } from './avatar.js';
import { clipFromFile, clipFromJSON, segmentAt } from './clip.js';
import { frameAt, Player } from './player.js';
import { Stage } from './stage.js';

const FINGERS = ['thumb', 'index', 'middle', 'ring', 'pinky'];
const VIDEO_FILE = /\.(mp4|m4v|webm|mov|mkv|avi)$/i;

const $ = (id) => document.getElementById(id);
const ui = {
  stage: $('stage'),
  text: $('text'),
  spell: $('spell'),
  glossList: $('gloss-list'),
  numSamples: $('num-samples'),
  seed: $('seed'),
  imageInput: $('image-input'),
  downloads: [...document.querySelectorAll('#downloads button')],
  showSkeleton: $('show-skeleton'),
  handsView: $('hands-view'),
  uploadInput: $('upload-input'),
  uploadName: $('upload-name'),
  uploadGloss: $('upload-gloss'),
  videoPanel: $('video-panel'),
  video: $('input-video'),
  samples: $('samples'),
  legend: $('legend'),
  status: $('status'),
  glossChips: $('gloss-chips'),
  sentence: $('sentence'),
  signSentence: $('sign-sentence'),
  clearSentence: $('clear-sentence'),
  caption: $('caption'),
  timeline: $('timeline'),
  buttons: [$('generate'), $('spell'), $('reconstruct'), $('sign-sentence'), $('clear-sentence'),
    ...document.querySelectorAll('#downloads button')],
};

let stage = null;
let player = null;
let primary = null; // the clip the timeline follows (the first one on stage)
let current = null; // index of its segment shown in the caption and the timeline
const sentence = []; // glosses clicked so far
// What is on stage (and what a download button fetches again in its format): {kind: 'generate',
// input, options, clips} or {kind: 'reconstruct', file, gloss, seed}.
let shown = null;
let upload = null; // the file chosen for reconstruction

function setStatus(message, isError = false) {
  ui.status.textContent = message;
  ui.status.classList.toggle('error', isError);
}

function setState(state) {
  ui.stage.dataset.state = state;
  const busy = state === 'loading' || state === 'starting';
  const unusable = (button) => (button.dataset.format ? !shown
    : button === ui.signSentence || button === ui.clearSentence ? !sentence.length : false);
  ui.buttons.forEach((button) => { button.disabled = busy || unusable(button); });
}

/** Run an action, reporting progress and failures in the status line. */
async function act(message, action) {
  setState('loading');
  setStatus(message);
  try {
    setStatus(await action());
    setState('ready');
  } catch (error) {
    if (!(error instanceof ApiError)) console.error(error); // a bug, not a refused request
    setStatus(error.message, true);
    setState('error'); // what was on stage stays there
  }
}

function fps(clip) {
  return `${Number(clip.fps.toFixed(2))} fps`;
}

function seed() {
  return Math.max(0, Math.trunc(Number(ui.seed.value) || 0));
}

function describe(input) {
  if (input.image) return `image ${input.image.name}`;
  if (input.fingerspell) return `“${input.fingerspell}” fingerspelled`;
  return `“${input.glosses ? input.glosses.join(' ') : input.text}”`;
}

// --- caption and timeline --------------------------------------------------------------------

/** The caption under the avatar at segment `index` of the primary clip (or its gloss without segments). */
function caption(index) {
  if (index === null) return { text: primary?.gloss ?? '', kind: 'sign' };
  const segment = primary.segments[index];
  if (segment.kind === 'sign') return { text: segment.gloss, kind: 'sign' };
  const next = primary.segments.slice(index + 1).find((s) => s.kind === 'sign');
  return { text: next ? `→ ${next.gloss}` : '', kind: 'transition' };
}

/** Follow `time` seconds of the primary clip: the caption and the timeline's current segment. */
function showCurrent(time) {
  if (!primary) return;
  const found = segmentAt(primary, frameAt(time, primary));
  const index = found ? found.index : null;
  if (index === current && !ui.caption.hidden) return;
  current = index;
  const { text, kind } = caption(index);
  ui.caption.textContent = text;
  ui.caption.dataset.kind = kind;
  ui.caption.hidden = !text;
  for (const [i, block] of [...ui.timeline.children].entries()) {
    if (i === index) block.setAttribute('aria-current', 'true');
    else block.removeAttribute('aria-current');
  }
}

/** One block per segment of `clip`, as wide as its frames; a click jumps to its first frame. */
function drawTimeline(clip) {
  ui.timeline.replaceChildren(...(clip.segments ?? []).map((segment) => {
    const block = document.createElement('button');
    block.type = 'button';
    block.className = 'segment';
    Object.assign(block.dataset, { kind: segment.kind, start: segment.start, end: segment.end });
    block.style.flexGrow = String(segment.end - segment.start);
    block.textContent = segment.kind === 'sign' ? segment.gloss : '';
    const name = segment.kind === 'sign' ? segment.gloss : 'transition';
    block.title = `${name}: frames ${segment.start + 1}–${segment.end}`;
    block.addEventListener('click', () => player.seek(segment.start / clip.fps));
    return block;
  }));
  ui.timeline.hidden = !clip.segments;
}

/** Put `items` ([{clip, label}]) on stage and start the timeline on the first one. */
function showOnStage(items, { reframe = false, keepTime = false } = {}) {
  stage.show(items, reframe);
  ui.stage.dataset.figures = String(items.length);
  const clips = items.map((item) => item.clip);
  primary = clips[0];
  current = null;
  ui.caption.hidden = true;
  drawTimeline(primary);
  player.load(primary, Math.max(...clips.map((c) => c.numFrames / c.fps)), keepTime);
}

function setVideo(file) {
  if (ui.video.src) URL.revokeObjectURL(ui.video.src);
  ui.video.removeAttribute('src');
  if (file) ui.video.src = URL.createObjectURL(file);
  ui.videoPanel.hidden = !file;
}

// --- generation --------------------------------------------------------------------------------

/** Show sample `index` of the generated clips, at the same time as the one shown before. */
function showSample(index, keepTime = true) {
  const { clips, input } = shown;
  const clip = clips[index];
  showOnStage([{ clip, label: `${clip.gloss || describe(input)} · sample ${index + 1}/${clips.length}` }],
    { keepTime });
  for (const [i, button] of [...ui.samples.children].entries()) {
    button.setAttribute('aria-pressed', String(i === index));
  }
}

function sampleButtons(count) {
  ui.samples.replaceChildren();
  if (count < 2) return;
  ui.samples.append('sample');
  for (let i = 0; i < count; i += 1) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = String(i + 1);
    button.addEventListener('click', () => showSample(i));
    ui.samples.append(button);
  }
}

function runGenerate(input) {
  const options = { num_samples: Math.max(1, Math.trunc(Number(ui.numSamples.value) || 1)), seed: seed() };
  return act(`generating ${describe(input)}…`, async () => {
    const body = await (await generate(input, { ...options, format: 'json' })).json();
    const clips = body.clips.map((c, i) => clipFromJSON(c, `sample ${i + 1}`));
    shown = { kind: 'generate', input, options, clips };
    setVideo(null);
    sampleButtons(clips.length);
    showSample(0, false);
    const [clip] = clips;
    const signs = clip.segments?.filter((s) => s.kind === 'sign').length;
    return `${describe(input)}: ${clips.length} sample${clips.length > 1 ? 's' : ''}, `
      + `${signs ? `${signs} signs, ` : ''}${clip.numFrames} frames at ${fps(clip)}`;
  });
}

// --- sentences ---------------------------------------------------------------------------------

function drawSentence() {
  if (!sentence.length) {
    const hint = document.createElement('span');
    Object.assign(hint, { className: 'faint', textContent: 'click glosses to build one' });
    ui.sentence.replaceChildren(hint);
  } else {
    ui.sentence.replaceChildren(...sentence.map((gloss, i) => {
      const button = chip(gloss, `remove ${gloss}`);
      button.addEventListener('click', () => {
        sentence.splice(i, 1);
        drawSentence();
      });
      return button;
    }));
  }
  setState(ui.stage.dataset.state);
}

function chip(text, title) {
  const button = document.createElement('button');
  return Object.assign(button, { type: 'button', className: 'chip', textContent: text, title });
}

function drawGlossChips(words) {
  ui.glossChips.replaceChildren(...words.map((word) => {
    const button = chip(word, `add ${word} to the sentence`);
    button.addEventListener('click', () => {
      sentence.push(word);
      drawSentence();
    });
    return button;
  }));
}

/** One gloss is a word; more are a sentence (one clip, its signs joined by transitions). */
function runSentence() {
  if (!sentence.length) return Promise.resolve();
  return runGenerate(sentence.length === 1 ? { text: sentence[0] } : { glosses: [...sentence] });
}

// --- reconstruction ----------------------------------------------------------------------------

function chooseUpload(file) {
  upload = file;
  ui.uploadName.textContent = file ? file.name : 'no file chosen';
}

function runReconstruct() {
  const gloss = ui.uploadGloss.value.trim();
  if (!upload) {
    setStatus('choose a video or a motion clip (.npz / .json) to reconstruct', true);
    return Promise.resolve();
  }
  const file = upload;
  const isVideo = file.type.startsWith('video/') || VIDEO_FILE.test(file.name);
  return act(`reconstructing ${file.name} as “${gloss}”…`, async () => {
    const input = isVideo ? null : await clipFromFile(file);
    const options = { gloss, seed: seed(), format: 'json' };
    const result = clipFromJSON((await (await reconstruct(file, options)).json()).clip, 'reconstruction');
    shown = { kind: 'reconstruct', file, gloss, seed: options.seed };
    sampleButtons(0);
    const items = [{ clip: result, label: `reconstruction · ${gloss}` }];
    if (input) items.unshift({ clip: input, label: `input · ${file.name}` });
    setVideo(isVideo ? file : null);
    showOnStage(items, { reframe: true });
    return `${file.name}: reconstruction of “${gloss}”, ${result.numFrames} frames at ${fps(result)}`;
  });
}

function syncVideo(time) {
  if (ui.videoPanel.hidden || !ui.video.src) return;
  if (player.playing) {
    if (ui.video.paused) ui.video.play().catch(() => {}); // autoplay refused: the slider still seeks
    if (Math.abs(ui.video.currentTime - time) > 0.2) ui.video.currentTime = time;
  } else {
    if (!ui.video.paused) ui.video.pause();
    if (Math.abs(ui.video.currentTime - time) > 0.02) ui.video.currentTime = time;
  }
}

// --- download ----------------------------------------------------------------------------------

/** What is on stage, in `format` (npz, glb, bvh or pose), from the server (the same request again). */
async function fetchShown(format) {
  if (shown.kind === 'generate') return generate(shown.input, { ...shown.options, format });
  return reconstruct(shown.file, { gloss: shown.gloss, seed: shown.seed, format });
}

function runDownload(format) {
  return act(`preparing the .${format} download…`, async () => {
    const response = await fetchShown(format);
    const name = attachmentName(response, `signavatar.${format}`);
    const url = URL.createObjectURL(await response.blob());
    const link = Object.assign(document.createElement('a'), { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    return `downloaded ${name}`;
  });
}

// --- page --------------------------------------------------------------------------------------

function legend(skeleton) {
  const swatch = (color, text) => {
    const span = document.createElement('span');
    const box = document.createElement('i');
    box.style.background = color;
    span.append(box, text);
    return span;
  };
  const colorOf = (joint) => skeleton.bones.find((b) => b.child === skeleton.joint_names.indexOf(joint))?.color;
  ui.legend.replaceChildren(
    swatch(skeleton.legend.right, 'right arm'),
    swatch(skeleton.legend.left, 'left arm'),
    ...FINGERS.map((finger) => swatch(colorOf(`right_${finger}1`), finger)),
  );
}

function dropped(file) {
  if (file.type.startsWith('image/')) {
    runGenerate({ image: file });
  } else {
    chooseUpload(file);
    if (ui.uploadGloss.value.trim()) runReconstruct();
    else setStatus(`${file.name}: type the gloss signed in it, then Reconstruct`);
  }
}

function wire() {
  $('generate-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = ui.text.value.trim();
    if (text) runGenerate({ text });
  });
  ui.spell.addEventListener('click', () => {
    const word = ui.text.value.trim();
    if (word) runGenerate({ fingerspell: word });
  });
  ui.imageInput.addEventListener('change', () => {
    if (ui.imageInput.files[0]) runGenerate({ image: ui.imageInput.files[0] });
    ui.imageInput.value = '';
  });
  for (const button of ui.downloads) button.addEventListener('click', () => runDownload(button.dataset.format));
  const toggle = (button, apply) => button.addEventListener('click', () => {
    const on = button.getAttribute('aria-pressed') !== 'true';
    button.setAttribute('aria-pressed', String(on));
    apply(on);
  });
  toggle(ui.showSkeleton, (on) => stage.setBody(on ? 'skeleton' : 'avatar'));
  toggle(ui.handsView, (on) => stage.setCloseUp(on));
  ui.signSentence.addEventListener('click', runSentence);
  ui.clearSentence.addEventListener('click', () => {
    sentence.length = 0;
    drawSentence();
  });
  ui.uploadInput.addEventListener('change', () => chooseUpload(ui.uploadInput.files[0] ?? null));
  $('reconstruct-form').addEventListener('submit', (event) => {
    event.preventDefault();
    runReconstruct();
  });
  window.addEventListener('dragover', (event) => {
    event.preventDefault();
    document.body.classList.add('dragging');
  });
  window.addEventListener('dragleave', (event) => {
    if (!event.relatedTarget) document.body.classList.remove('dragging');
  });
  window.addEventListener('drop', (event) => {
    event.preventDefault();
    document.body.classList.remove('dragging');
    const file = event.dataTransfer?.files[0];
    if (file) dropped(file);
  });
}

async function start() {
  setState('starting');
  const [skeleton, glosses, avatar] = await Promise.allSettled([getJSON('skeleton'), getJSON('glosses'),
    getBytes('avatar.glb').then(parseAvatar)]);
  if (skeleton.status === 'rejected') throw skeleton.reason;
  try {
    stage = new Stage($('canvas-host'), skeleton.value, avatar.status === 'fulfilled' ? avatar.value : null);
  } catch (error) {
    throw new Error(`this browser cannot draw 3D (WebGL): ${error.message}`);
  }
  if (avatar.status === 'rejected') { // the skeleton still works
    console.warn(`no avatar: ${avatar.reason.message}`);
    ui.showSkeleton.setAttribute('aria-pressed', 'true');
    ui.showSkeleton.disabled = true;
  }
  player = new Player({
    button: $('play'),
    slider: $('scrub'),
    label: $('frame-label'),
    onTime: (time) => {
      stage.setTime(time);
      syncVideo(time);
      showCurrent(time);
    },
  });
  legend(skeleton.value);
  wire();
  let last = performance.now();
  stage.renderer.setAnimationLoop((now) => {
    player.tick(Math.min((now - last) / 1000, 0.1));
    last = now;
    stage.render();
  });
  setState('idle');
  if (glosses.status === 'fulfilled') {
    const words = glosses.value.glosses;
    ui.glossList.replaceChildren(...words.map((word) => Object.assign(document.createElement('option'), { value: word })));
    drawGlossChips(words);
    ui.text.placeholder = `type a word, e.g. ${words[0]}`;
    setStatus(`${words.length} known glosses; other text goes through CLIP`);
    if (words.length) { // something moving on the first visit: the first known gloss
      ui.text.value = words[0];
      await runGenerate({ text: words[0] });
    }
  } else {
    setStatus(`the model is not answering yet (${glosses.reason.message}); try again shortly`, true);
  }
}

start().catch((error) => {
  if (!(error instanceof ApiError)) console.error(error);
  setStatus(`the viewer could not start: ${error.message}`, true);
  setState('error');
});
