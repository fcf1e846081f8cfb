// Bundles the viewer (three.js included) into signavatar/serving/static/, which the Serve ingress
// serves at / and /static/ (signavatar/serving/viewer.py), and copies Swagger UI (swagger-ui-dist)
// into static/docs/ for the API docs page at /docs. Run through `make viewer`.
// Bundle names carry a content hash so browsers never run a stale bundle; index.html (served
// with no-cache) names them by relative URLs, so the page also works under a route prefix.

import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, '..', 'signavatar', 'serving', 'static');
// Swagger UI for /docs: the files signavatar/serving/viewer.py's DOCS_ASSETS names, and the licence.
const docsFiles = ['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-32x32.png', 'LICENSE', 'NOTICE'];

await rm(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: ['src/main.js', 'src/style.css'],
  entryNames: '[name]-[hash]',
  outdir,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});

const bundled = {};
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (output.entryPoint) bundled[path.extname(file)] = `static/${path.basename(file)}`;
}
const html = (await readFile(path.join(here, 'index.html'), 'utf8'))
  .replace('%APP_JS%', bundled['.js'])
  .replace('%APP_CSS%', bundled['.css']);
await writeFile(path.join(outdir, 'index.html'), html);
const docsSource = path.join(here, 'node_modules', 'swagger-ui-dist');
await mkdir(path.join(outdir, 'docs'));
await Promise.all(docsFiles.map((file) => copyFile(path.join(docsSource, file), path.join(outdir, 'docs', file))));
console.log(`viewer built into ${path.relative(process.cwd(), outdir) || '.'}: ${Object.values(bundled).join(', ')}`);
