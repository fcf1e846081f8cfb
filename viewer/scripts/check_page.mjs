// Drives the viewer in headless Chromium (the system's, through playwright-core: no browser is
// downloaded) and reports what it saw as JSON on stdout; tests/test_viewer.py asserts on it.
//
//   node scripts/check_page.mjs '{"url", "gloss", "seed", "image": "a.png", "clip": "a.npz", "video": "a.mp4",
//                                  "sentence": [gloss, ...],
//                                  "outDir", "chromium": "/usr/bin/chromium"}'
//
// `sentence`: the glosses clicked into a sentence, signed with one sample. Screenshots and the
// downloaded file are written to outDir. Chromium runs with networking extras off: the machine
// may have no network, and Chromium would otherwise keep trying.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader', // WebGL in software, there is no GPU
];
const TIMEOUT_MS = 60_000;
const FRAME_GAP_MS = 300;

const args = JSON.parse(process.argv[2]);
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

  // 4. download the npz of what is shown
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await download.saveAs(shot('download.bin'));
  report.steps.download = { name: download.suggestedFilename(), path: shot('download.bin') };
  await page.waitForSelector('#stage[data-state="ready"]');
  await page.screenshot({ path: shot('page-generate.png') });

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
} catch (error) {
  report.problems.push(`check failed: ${error.message}`);
} finally {
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
