// `switchboard start --watch`: when the bot's module or a module it imports from its own folder
// changes, the bot is imported afresh and swapped in (Runtime.setBot). Platforms, connections,
// webhooks and the store are not touched; a bot that fails to load is reported and the running
// one stays.

import { watch, type FSWatcher } from 'node:fs';
import { register } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import type { Bot } from '../bot/bot.js';
import type { Logger } from './logger.js';
import { prepareImport } from './bot-import.js';
import { loadBot } from './bot-import.js';

const param = 'switchboard-reload';

/**
 * ESM caches a module by its URL for the life of the process, so a changed file is read again only
 * under a new URL. Each load imports the bot as `bot.ts?switchboard-reload=N`, and this resolve
 * hook (run in Node's loader thread, after tsx's) gives the same N to every module that one imports
 * from inside the bot's folder, and so on down: a fresh graph of the bot's own modules. Modules
 * elsewhere — node_modules, Switchboard's own — stay the one instance, so the Bot class the runtime
 * checks against is the same. Each module given an N is posted back, for watch() to follow.
 *
 * ESM cannot unload a module, so every reload keeps the old graph (and whatever its top level
 * started, e.g. a timer) for the life of the process: about 11 KB of heap and 25-45 KB of RSS per
 * reload of a two-file bot, measured over 1,000 reloads; a long session of saves costs a few MB.
 * A restart gives it back.
 */
const hooks = `
let root, own, port;
export async function initialize(data) { ({ root, own, port } = data); }
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  const { url } = resolved;
  if (!context.parentURL || !url.startsWith(root) || url.startsWith(own) || url.includes('/node_modules/')) return resolved;
  const version = new URL(context.parentURL).searchParams.get(${JSON.stringify(param)});
  if (!version) return resolved;
  const fresh = new URL(url);
  fresh.searchParams.set(${JSON.stringify(param)}, version);
  port.postMessage(fresh.href);
  return { ...resolved, url: fresh.href };
}`;

/** Edits come in bursts (an editor's save is often a write and a rename; a formatter touches several files): one reload per burst. */
const debounceMs = 100;

export class BotReloader {
  private version = 0;
  /** The bot's module and every module it imports from its folder, as loaded (paths). */
  private readonly files = new Set<string>();
  /** One watcher per folder holding such a file. */
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly changed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private reloads: Promise<void> = Promise.resolve();
  private target: { swap: (bot: Bot) => void; logger: Logger } | undefined;
  private closed = false;

  private constructor(readonly path: string) {
    this.files.add(path);
  }

  /** Installs the resolve hook (once per process: start runs one bot), after those the bot's import needs. */
  static async open(path: string): Promise<BotReloader> {
    const reloader = new BotReloader(resolve(path));
    await prepareImport(reloader.path);
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (url: string) => reloader.follow(fileURLToPath(url)));
    port1.unref();
    const root = pathToFileURL(dirname(reloader.path)).href + '/';
    // Switchboard's own modules (../ of this one: src/ here, the compiled folder in the package).
    const own = new URL('../', import.meta.url).href;
    register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { root, own, port: port2 }, transferList: [port2] });
    return reloader;
  }

  /** Imports the bot afresh: a new module graph of its folder's files. */
  load(): Promise<Bot> {
    return loadBot(this.path, `?${param}=${++this.version}`);
  }

  /** From now on, a change to one of the bot's files loads it again and hands the new bot to `swap`. */
  watch(swap: (bot: Bot) => void, logger: Logger): void {
    this.target = { swap, logger };
    for (const file of this.files) this.watchFolderOf(file);
    const folder = dirname(this.path);
    logger.info({ file: this.path, watching: [...this.files].map((file) => relative(folder, file)) }, 'watching the bot: a change to one of its files reloads it');
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  private follow(file: string): void {
    if (this.files.has(file)) return;
    this.files.add(file);
    if (this.target) this.watchFolderOf(file);
  }

  /**
   * The folder, not the file: editors often save by writing a new file and renaming it over the
   * old one, which a watch on the file would not survive. Not one recursive watch of the bot's
   * folder: on Linux, Node 20 emulates that with a watcher per file of the whole tree, node_modules
   * included (about 11,000 handles for this repository).
   */
  private watchFolderOf(file: string): void {
    const folder = dirname(file);
    if (this.watchers.has(folder) || this.closed) return;
    try {
      const watcher = watch(folder, (_event, name) => {
        const changed = name === null ? undefined : join(folder, name.toString());
        if (changed === undefined || this.files.has(changed)) this.schedule(changed ?? folder);
      });
      watcher.on('error', (error) => this.target?.logger.warn({ folder, err: error }, 'stopped watching a folder of the bot'));
      this.watchers.set(folder, watcher);
    } catch (error) {
      this.target?.logger.warn({ folder, err: error }, 'cannot watch a folder of the bot; changes there are not reloaded');
    }
  }

  private schedule(file: string): void {
    this.changed.add(file);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => (this.reloads = this.reloads.then(() => this.reload())), debounceMs);
  }

  /** One at a time: a change made while a reload runs is picked up by the next. */
  private async reload(): Promise<void> {
    const target = this.target;
    if (this.closed || !target || this.changed.size === 0) return;
    const folder = dirname(this.path);
    const changed = [...this.changed].map((file) => relative(folder, file) || '.');
    this.changed.clear();
    const started = performance.now();
    let bot: Bot;
    try {
      bot = await this.load();
    } catch (error) {
      target.logger.error({ file: this.path, changed, err: error }, 'bot reload failed; the previous bot keeps running');
      return;
    }
    if (this.closed) return;
    target.swap(bot);
    target.logger.info({ file: this.path, changed, reload: this.version - 1, ms: Math.round(performance.now() - started) }, 'bot reloaded');
  }
}
