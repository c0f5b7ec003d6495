// A bot written in TypeScript loads without a build step: the compiled runtime registers tsx the
// first time it must import a .ts file. Run from source a loader is already in place (this very
// module is TypeScript), so nothing is registered twice.

const runningFromSource = /\.[cm]?ts$/.test(new URL(import.meta.url).pathname);
let registered: Promise<void> | undefined;

/** Registers tsx once, before `path` is imported, when the path is TypeScript and no loader runs. */
export async function prepareImport(path: string): Promise<void> {
  if (runningFromSource || !/\.[cm]?tsx?$/.test(path)) return;
  registered ??= import('tsx/esm/api').then(({ register }) => void register());
  await registered;
}
