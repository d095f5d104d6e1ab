// The package as users get it: `npm pack` of this repository, installed
// from the tarball into a fresh temporary project (no registry: the package
// has no dependencies, so `npm install --offline` of the tarball is enough).
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run, root } from './helpers.mjs';

export const bin = (name) => path.join(root, 'node_modules/.bin', name);

function npm(args, cwd) {
  const r = run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

/**
 * Packs the repository and installs the tarball into a new project whose
 * package.json is `pkg` (type: module unless said otherwise).  Returns
 * { dir, tarball, installed } (installed: the package's folder).
 */
export function installPacked(pkg = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'onnx-cle-consumer-'));
  const packed = JSON.parse(npm(['pack', root, '--json', '--pack-destination', dir], dir));
  const tarball = path.join(dir, packed[0].filename);
  writeFileSync(path.join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module', ...pkg }, null, 2));
  npm(['install', '--offline', '--ignore-scripts', tarball], dir);
  const installed = path.join(dir, 'node_modules/onnx-cle');
  return { dir, tarball, installed, files: packed[0].files.map((f) => f.path) };
}

/** The first ```lang block after `heading` (a heading, or a paragraph's first words) in README.md. */
export function readmeBlock(heading, lang) {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}`);
  if (at < 0) throw new Error(`README.md has no heading '${heading}'`);
  const m = readme.slice(at).match(new RegExp('```' + lang + '\\n([\\s\\S]*?)```'));
  if (!m) throw new Error(`README.md has no \`\`\`${lang} block under '${heading}'`);
  return m[1];
}
