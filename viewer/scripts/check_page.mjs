// Drives the viewer in headless Chromium (the system's, through playwright-core: no browser is
// downloaded) and reports what it saw as JSON on stdout; tests/test_viewer.py asserts on it.
//
//   node scripts/check_page.mjs '{"url", "gloss", "seed", "image": "a.png", "clip": "a.npz", "video": "a.mp4",
//                                  "sentence": [gloss, ...], "spell": "word",
//                                  "outDir", "chromium": "/usr/bin/chromium"}'
//   node scripts/check_page.mjs '{"url", "outDir", "fpsSeconds": 5}'   # frame rate only (benchmarks)
//
// `sentence`: the glosses clicked into a sentence, signed with one sample. Screenshots and the
// downloaded files are written to outDir. Each downloaded .glb is also loaded by three.js's
// GLTFLoader in the page and played by an AnimationMixer (a small bundle of our own, built here
// with esbuild and added to the page). With `fpsSeconds`, the page plays the first gloss and the
// frames it draws per second are counted with the avatar, then with the skeleton. Chromium runs
// with networking extras off: the machine may have no network, and Chromium would otherwise keep
// trying.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader', // WebGL in software, there is no GPU
];
const TIMEOUT_MS = 60_000;
const FRAME_GAP_MS = 300;

const args = JSON.parse(process.argv[2]);
class Done extends Error {} // the checks asked for have all run
const here = path.dirname(fileURLToPath(import.meta.url));

/** A page script defining window.checkGlb(bytes): what GLTFLoader makes of a .glb, and its animation played. */
async function glbCheckerScript() {
  const contents = `
    import { AnimationMixer } from 'three';
    import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
    window.checkGlb = async (base64) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const gltf = await new GLTFLoader().parseAsync(bytes.buffer, '');
      const skins = [];
      gltf.scene.traverse((o) => { if (o.isSkinnedMesh) skins.push(o.skeleton.bones); });
      const [animation] = gltf.animations;
      const result = { skinned: skins.length, bones: skins[0]?.length ?? 0, animations: gltf.animations.length,
        copyright: gltf.asset.copyright ?? null };
      if (!animation) return result;
      const mixer = new AnimationMixer(gltf.scene);
      mixer.clipAction(animation).play();
      const pose = (t) => {
        mixer.setTime(t);
        return skins[0].flatMap((bone) => bone.quaternion.toArray());
      };
      const { times } = animation.tracks[0];
      const frame = Math.floor(times.length / 2);
      return { ...result, duration: animation.duration, tracks: animation.tracks.length, frame,
        first: pose(times[0]), middle: pose(times[frame]) };
    };`;
  const out = await build({ stdin: { contents, resolveDir: path.resolve(here, '..'), loader: 'js' }, bundle: true,
    format: 'iife', write: false, logLevel: 'warning' });
  return out.outputFiles[0].text;
}
const executablePath = args.chromium ?? '/usr/bin/chromium';
const shot = (name) => path.join(args.outDir, name);
const report = { problems: [], steps: {} };

const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'signavatar-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: CHROMIUM_FLAGS,
  viewport: { width: 1200, height: 760 },
  acceptDownloads: true,
  timeout: TIMEOUT_MS,
});
try {
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on('console', (message) => {
    if (message.type() === 'error') report.problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => report.problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // a finished download's blob: URL is revoked later; that is not a failure of the page
    if (!request.url().startsWith('blob:')) report.problems.push(`request failed: ${request.url()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) report.problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });

  const stage = page.locator('#stage');
  const label = page.locator('#frame-label');
  // the request that `status` names has finished: ready with `figures` on stage, or an error
  const waitFor = async (status, figures) => {
    await page.waitForFunction(([text, count]) => {
      const stage = document.getElementById('stage');
      return document.getElementById('status').textContent.includes(text)
        && ((stage.dataset.state === 'ready' && stage.dataset.figures === count) || stage.dataset.state === 'error');
    }, [status, String(figures)]);
    return {
      state: await stage.getAttribute('data-state'),
      status: await page.locator('#status').textContent(),
      labels: await page.locator('.figure-label').allTextContents(),
      videoShown: await page.locator('#video-panel').isVisible(),
    };
  };

  // 1. the page starts, shows the known glosses as chips and plays the first one
  await page.goto(`${args.url}/`);
  await page.waitForSelector('#stage[data-state="ready"], #stage[data-state="error"]');
  report.steps.start = {
    state: await stage.getAttribute('data-state'),
    glosses: await page.locator('#gloss-chips button').allTextContents(),
    options: await page.locator('#gloss-list option').evaluateAll((options) => options.map((o) => o.value)),
    labels: await page.locator('.figure-label').allTextContents(),
    caption: await page.locator('#caption').textContent(),
    timelineShown: await page.locator('#timeline').isVisible(),
  };

  if (args.fpsSeconds) { // the frame rate with the avatar, then with the skeleton, the first gloss playing
    const fps = () => page.evaluate((seconds) => new Promise((resolve) => {
      let frames = 0;
      const start = performance.now();
      const count = (now) => {
        frames += 1;
        if (now - start < seconds * 1000) requestAnimationFrame(count);
        else resolve(frames / ((now - start) / 1000));
      };
      requestAnimationFrame(count);
    }), args.fpsSeconds);
    report.fps = { avatar: await fps() };
    await page.click('#show-skeleton');
    report.fps.skeleton = await fps();
    await stage.screenshot({ path: shot('fps-skeleton.png') });
    throw new Done();
  }

  // 2. type a gloss, two samples: the animation plays (two screenshots differ)
  await page.fill('#text', args.gloss);
  await page.fill('#num-samples', '2');
  await page.fill('#seed', String(args.seed));
  await page.press('#text', 'Enter');
  report.steps.generate = await waitFor(`“${args.gloss}”: 2 samples`, 1);
  await page.waitForTimeout(FRAME_GAP_MS);
  const first = { frame: await label.textContent() };
  await stage.screenshot({ path: shot('frame-a.png') });
  await page.waitForTimeout(FRAME_GAP_MS);
  const second = { frame: await label.textContent() };
  await stage.screenshot({ path: shot('frame-b.png') });
  report.steps.playing = { first, second, samples: await page.locator('#samples button').allTextContents() };

  // 3. pause, scrub to the first frame, switch to sample 2 (still paused, same frame)
  await page.click('#play');
  await page.locator('#scrub').evaluate((slider) => { // as a drag to the left end does
    slider.value = '0';
    slider.dispatchEvent(new Event('input', { bubbles: true }));
  });
  const paused = await label.textContent();
  await page.waitForTimeout(FRAME_GAP_MS);
  await stage.screenshot({ path: shot('sample-1-frame-1.png') });
  await page.click('#samples button:has-text("2")');
  await stage.screenshot({ path: shot('sample-2-frame-1.png') });
  report.steps.paused = {
    before: paused,
    after: await label.textContent(),
    button: await page.locator('#play').textContent(),
    pressed: await page.locator('#samples button[aria-pressed="true"]').textContent(),
    labels: await page.locator('.figure-label').allTextContents(),
  };
  await page.click('#play');

  // 4. download what is shown in every format; load the .glb with GLTFLoader and play it
  report.steps.download = {};
  await page.addScriptTag({ content: await glbCheckerScript() });
  for (const format of ['npz', 'glb', 'bvh', 'pose']) {
    const [download] = await Promise.all([page.waitForEvent('download'),
      page.click(`#downloads button[data-format="${format}"]`)]);
    const file = shot(`download-${format}.bin`);
    await download.saveAs(file);
    report.steps.download[format] = { name: download.suggestedFilename(), path: file };
    await page.waitForSelector('#stage[data-state="ready"]');
  }
  report.steps.download.path = report.steps.download.npz.path; // (what the npz checks read)
  report.steps.download.name = report.steps.download.npz.name;
  await page.screenshot({ path: shot('page-generate.png') });

  // 4b. the skeleton switch and the hands close-up
  await page.waitForTimeout(FRAME_GAP_MS);
  await page.click('#play'); // paused: the switches change the picture, not the frame
  const after = async (click, name) => {
    if (click) await page.click(click);
    await page.waitForTimeout(FRAME_GAP_MS);
    await stage.screenshot({ path: shot(name) });
  };
  await after(null, 'avatar.png');
  await after('#show-skeleton', 'skeleton.png');
  await after('#hands-view', 'skeleton-hands.png');
  await after('#show-skeleton', 'avatar-hands.png');
  report.steps.switches = {
    skeleton: await page.locator('#show-skeleton').getAttribute('aria-pressed'),
    hands: await page.locator('#hands-view').getAttribute('aria-pressed'),
    labels: await page.locator('.figure-label').allTextContents(),
  };
  await page.click('#hands-view');
  await page.click('#play');

  // 5. an image instead of a word
  await page.setInputFiles('#image-input', args.image);
  report.steps.image = await waitFor(`image ${path.basename(args.image)}: 2 samples`, 1);

  // 6. upload a clip: its reconstruction plays beside it
  await page.setInputFiles('#upload-input', args.clip);
  await page.fill('#upload-gloss', args.gloss);
  await page.click('#reconstruct');
  report.steps.clip = await waitFor(`${path.basename(args.clip)}: reconstruction`, 2);
  await page.waitForTimeout(FRAME_GAP_MS);
  await page.screenshot({ path: shot('page-reconstruct-clip.png') });

  // 7. upload a video: the video plays beside its reconstruction
  await page.setInputFiles('#upload-input', args.video);
  await page.click('#reconstruct');
  report.steps.video = await waitFor(`${path.basename(args.video)}: reconstruction`, 1);
  await page.waitForFunction(() => document.getElementById('input-video').readyState >= 2); // a frame decoded
  report.steps.video.videoWidth = await page.locator('#input-video').evaluate((video) => video.videoWidth);
  await page.waitForTimeout(FRAME_GAP_MS);
  await page.screenshot({ path: shot('page-reconstruct-video.png') });

  // 8. build a sentence from the chips and sign it: the current gloss under the avatar follows
  // the frames, the timeline shows the signs and transitions
  const glosses = args.sentence;
  await page.fill('#num-samples', '1');
  for (const gloss of glosses) {
    await page.locator('#gloss-chips').getByRole('button', { name: gloss, exact: true }).click();
  }
  const built = await page.locator('#sentence button').allTextContents();
  await page.click('#sign-sentence');
  report.steps.sentence = { built, ...await waitFor(`“${glosses.join(' ')}”: 1 sample`, 1) };
  const now = () => page.evaluate(() => ({
    frame: Number(/frame (\d+)\//.exec(document.getElementById('frame-label').textContent)[1]) - 1,
    caption: document.getElementById('caption').hidden ? '' : document.getElementById('caption').textContent,
  }));
  const playing = [];
  for (let i = 0; i < 12; i += 1) {
    playing.push(await now());
    await page.waitForTimeout(120);
  }
  await stage.screenshot({ path: shot('sentence-playing.png') });
  await page.click('#play'); // pause, then jump to every segment from the timeline
  const blocks = [];
  for (const block of await page.locator('#timeline .segment').all()) {
    await block.click();
    blocks.push({
      kind: await block.getAttribute('data-kind'),
      text: await block.textContent(),
      start: Number(await block.getAttribute('data-start')),
      end: Number(await block.getAttribute('data-end')),
      current: await block.getAttribute('aria-current'),
      ...await now(),
    });
  }
  Object.assign(report.steps.sentence, { playing, blocks });
  await page.screenshot({ path: shot('page-sentence.png') });

  // 9. the sentence's .glb (one sample: one file) in GLTFLoader, its animation played
  const [download] = await Promise.all([page.waitForEvent('download'),
    page.click('#downloads button[data-format="glb"]')]);
  await download.saveAs(shot('sentence.glb'));
  await page.waitForSelector('#stage[data-state="ready"]');
  const glb = (await readFile(shot('sentence.glb'))).toString('base64');
  report.steps.gltfLoader = { name: download.suggestedFilename(),
    ...await page.evaluate((bytes) => window.checkGlb(bytes), glb) };

  // 10. spell a word letter by letter: with `spell`, a word whose letters the model does not know,
  // so the answer is the server's 422 naming them, shown in the status line (and not a problem)
  if (args.spell) {
    await page.fill('#text', args.spell);
    await page.click('#spell');
    report.steps.spell = await waitFor('unknown gloss', 1);
    report.problems = report.problems.filter((p) => !/^HTTP 422: .*\/generate$/.test(p)
      && !p.startsWith('console error: Failed to load resource: the server responded with a status of 422'));
  }
} catch (error) {
  if (!(error instanceof Done)) report.problems.push(`check failed: ${error.message}`);
} finally {
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
