// `switchboard init <folder>`: a new bot project, ready for `npm install && npm start`.

import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scaffoldFiles, type ScaffoldVersions } from './templates.js';

export const initUsage = `Usage: switchboard init <folder>

Writes a new bot project into <folder> (created; it must be empty or absent):
package.json, switchboard.yaml, bot.ts, bot.test.ts, tsconfig.json and a README.`;

export async function initCommand(args: string[], cwd = process.cwd()): Promise<number> {
  const [folder, ...extra] = args;
  if (!folder || extra.length > 0) {
    console.error(initUsage);
    return 2;
  }
  const dir = resolve(cwd, folder);
  const existing = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  if (existing.length > 0) {
    console.error(`${dir} is not empty; init writes only into a new or empty folder, so nothing there is overwritten. Pick another name.`);
    return 1;
  }
  const name = packageName(basename(dir));
  const files = scaffoldFiles(name, ownVersions());
  await mkdir(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  console.log(`Created ${dir}: ${Object.keys(files).join(', ')}\n\nNext:\n  cd ${folder}\n  npm install\n  npm start`);
  return 0;
}

/** A folder name as an npm package name: lower case, no characters npm refuses. */
function packageName(folder: string): string {
  return folder.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'my-bot';
}

function ownVersions(): ScaffoldVersions {
  const manifest = JSON.parse(readFileSync(fileURLToPath(import.meta.resolve('switchboard/package.json')), 'utf8')) as { version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const range = (name: string) => manifest.dependencies[name] ?? manifest.devDependencies[name] ?? '*';
  return { switchboard: `^${manifest.version}`, devDependencies: { '@types/node': range('@types/node'), tsx: range('tsx'), typescript: range('typescript') } };
}
