// Runs the Khronos glTF validator (npm gltf-validator) on .glb files and prints one JSON report per
// file (the validator's own: issues.numErrors, issues.messages, info.animationCount ...), as a JSON
// list on stdout; tests/test_avatar_exports.py asserts on it.
//
//   node scripts/validate_gltf.mjs a.glb [b.glb ...]

import { readFile } from 'node:fs/promises';
import path from 'node:path';

import validator from 'gltf-validator';

const reports = [];
for (const file of process.argv.slice(2)) {
  const bytes = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 100,
    externalResourceFunction: (uri) => Promise.reject(new Error(`no external resources expected, got ${uri}`)),
  });
  reports.push(report);
}
console.log(JSON.stringify(reports));
