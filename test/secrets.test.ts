// Masking follows the schemas: a field declared with secret(...) is masked wherever the config is
// shown (`switchboard check`, the `config` every callback receives). Here every platform is
// configured with every secret its schema declares, and `check` must show none of them; a guard
// fails when a field named like a secret is declared without the mark.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import type { z } from 'zod';
import { callbacksSchema } from '../src/callbacks/config.js';
import { main } from '../src/runtime/cli.js';
import { parseConfig, type Config } from '../src/runtime/config.js';
import { definitions } from '../src/runtime/registry.js';
import { innerOf, isSecret, masked } from '../src/runtime/secret.js';

type Schema = z.core.$ZodType;
const defOf = (schema: Schema) => (schema as z.core.$ZodTypes)._zod.def;

/** Every field of every object in a schema, with its path ("communities[].secret"). */
function fields(schema: Schema, path = ''): { path: string; schema: Schema }[] {
  const inner = innerOf(schema);
  if (inner) return fields(inner, path);
  const def = defOf(schema);
  switch (def.type) {
    case 'pipe':
      return [...fields(def.in, path), ...fields(def.out, path)];
    case 'union':
      return def.options.flatMap((option) => fields(option, path));
    case 'array':
      return fields(def.element, `${path}[]`);
    case 'object':
      return Object.entries(def.shape).flatMap(([key, field]) => {
        const at = path ? `${path}.${key}` : key;
        return [{ path: at, schema: field }, ...fields(field, at)];
      });
    default:
      return [];
  }
}

/** Whether a field's schema carries the secret mark (on itself or under .optional(), .default(), a pipe). */
function marked(schema: Schema): boolean {
  if (isSecret(schema)) return true;
  const inner = innerOf(schema);
  if (inner) return marked(inner);
  const def = defOf(schema);
  if (def.type === 'pipe') return marked(def.in) || marked(def.out);
  return false;
}

function takesString(schema: Schema): boolean {
  const inner = innerOf(schema);
  if (inner) return takesString(inner);
  const def = defOf(schema);
  if (def.type === 'string') return true;
  if (def.type === 'pipe') return takesString(def.in);
  if (def.type === 'union') return def.options.some(takesString);
  return false;
}

const secretPaths = (schema: Schema) => [...new Set(fields(schema).filter((f) => marked(f.schema)).map((f) => f.path))];

/** The values at a path; "[]" steps into every item of a list. */
function valuesAt(value: unknown, path: string): unknown[] {
  let values = [value];
  for (const part of path.split('.')) {
    const [key, ...lists] = part.split('[]');
    values = values.map((v) => (v as Record<string, unknown> | undefined)?.[key!]);
    for (const _ of lists) values = values.flatMap((v) => (Array.isArray(v) ? v : []));
  }
  return values.filter((v) => v !== undefined);
}

/** Every schema a config is made of, by name: each platform type's, and the callbacks'. */
const schemas: [string, Schema][] = [...definitions.map((d): [string, Schema] => [d.type, d.configSchema as Schema]), ['callbacks', callbacksSchema]];

const aesKey = (seed: string) => seed.padEnd(43, 'x');
const whsec = `whsec_${Buffer.from('callback-signing-secret-0123').toString('base64')}`;
/** One of each secret, each told apart by its value. */
const secrets = {
  tgToken: '123456:TgBotTokenValue',
  tgSecretToken: 'TgSecretTokenValue',
  tgProxyPassword: 'TgProxyPassword',
  discordToken: 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GdIsCo.DiscordTokenValue0123',
  qqAppSecret: 'QqAppSecretValue',
  larkAppSecret: 'LarkAppSecretValue',
  larkVerificationToken: 'LarkVerificationTokenValue',
  larkEncryptKey: 'LarkEncryptKeyValue',
  wecomRobotToken: 'WecomRobotToken',
  wecomRobotAesKey: aesKey('WecomRobotAesKey'),
  wecomAppToken: 'WecomAppToken',
  wecomAppAesKey: aesKey('WecomAppAesKey'),
  wecomCorpSecret: 'WecomCorpSecretValue',
  vkToken: 'VkCommunityTokenValue0123',
  vkConfirmation: 'VkConfirmationValue',
  vkSecret: 'VkCallbackSecretValue',
  timSecretKey: 'TimSecretKeyValue0123',
  timCallbackToken: 'TimCallbackTokenValue',
  httpApiKey: 'HttpApiKeyValue',
  httpCallbackSecret: 'HttpCallbackSecretValue',
  callbackSecret: whsec,
  redisPassword: 'RedisPasswordValue',
};

const yaml = `
store: { type: redis, url: "redis://:${secrets.redisPassword}@127.0.0.1:6379" }
callbacks:
${['onMessage', 'onPreSend', 'onResult', 'onSent', 'onEvent'].map((stage) => `  ${stage}: { url: "https://cb.example/${stage}", secret: "${secrets.callbackSecret}" }`).join('\n')}
platforms:
  - { id: tg, type: telegram, token: "${secrets.tgToken}", mode: webhook, secretToken: ${secrets.tgSecretToken}, proxy: "http://user:${secrets.tgProxyPassword}@127.0.0.1:8080" }
  - { id: dc, type: discord, token: "Bot ${secrets.discordToken}" }
  - { id: qq, type: qq, appId: "102000001", appSecret: ${secrets.qqAppSecret} }
  - { id: lark, type: lark, appId: cli_a1b2c3d4e5f60718, appSecret: ${secrets.larkAppSecret}, verificationToken: ${secrets.larkVerificationToken}, encryptKey: ${secrets.larkEncryptKey} }
  - { id: robot, type: wecom, kind: robot, token: ${secrets.wecomRobotToken}, encodingAESKey: ${secrets.wecomRobotAesKey} }
  - { id: app, type: wecom, kind: app, token: ${secrets.wecomAppToken}, encodingAESKey: ${secrets.wecomAppAesKey}, corpId: ww0123456789, corpSecret: ${secrets.wecomCorpSecret}, agentId: 1000002 }
  - { id: vk, type: vk, communities: [{ groupId: 123456, token: ${secrets.vkToken}, confirmation: ${secrets.vkConfirmation}, secret: ${secrets.vkSecret} }] }
  - { id: tim, type: tencent-im, sdkAppId: 1400000000, secretKey: ${secrets.timSecretKey}, botAccount: bot, callbackToken: ${secrets.timCallbackToken} }
  - { id: api, type: http, apiKey: ${secrets.httpApiKey}, mode: callback, callbackUrl: "https://cb.example/api", callbackSecret: ${secrets.httpCallbackSecret} }
  - { id: sandbox, type: sandbox }
`;

let dir = '';
let config: Config;
let printed = '';
let shown: Config;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sb-secrets-'));
  const file = join(dir, 'switchboard.yaml');
  await writeFile(file, yaml);
  config = parseConfig(yaml, { definitions, env: {}, source: 'secrets.yaml', baseDir: dir });
  const log = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void (printed += `${String(line)}\n`));
  try {
    expect(await main(['check', '--config', file])).toBe(0);
  } finally {
    log.mockRestore();
  }
  shown = parse(printed) as Config;
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('secrets follow the schema', () => {
  it('`switchboard check` prints none of the secrets of any platform or callback', () => {
    expect(shown.platforms.map((p) => p.id)).toEqual(config.platforms.map((p) => p.id));
    for (const [name, value] of Object.entries(secrets)) expect(printed, name).not.toContain(value);
    expect(printed).toContain(`http://user:${masked}@127.0.0.1:8080`);
    expect(printed).toContain(`redis://:${masked}@127.0.0.1:6379`);
  });

  it('masks every field each schema declares secret, and the config here gives each of them a value', () => {
    for (const [type, schema] of schemas) {
      const paths = secretPaths(schema);
      if (type !== 'sandbox') expect(paths, `${type} declares no secret`).not.toEqual([]);
      const [given, printedHere] = type === 'callbacks' ? [[config.callbacks], [shown.callbacks]] : [config.platforms.filter((p) => p.type === type), shown.platforms.filter((p) => p.type === type)];
      for (const path of paths) {
        const values = given.flatMap((c) => valuesAt(c, path));
        expect(values.filter((v) => v !== ''), `the test config leaves ${type} ${path} unset: give it a value so its masking is checked`).not.toEqual([]);
        expect(printedHere.flatMap((c) => valuesAt(c, path)), `${type} ${path}`).toEqual(values.map(() => masked));
      }
    }
  });

  it("masks VK's confirmation string (it answers VK's confirmation request: whoever has it can claim the callback server)", () => {
    const vk = shown.platforms.find((p) => p.id === 'vk') as unknown as { communities: { groupId: number; confirmation: string; secret: string; token: string }[] };
    expect(vk.communities).toEqual([expect.objectContaining({ groupId: 123456, confirmation: masked, secret: masked, token: masked })]);
  });

  it('shows what is not a secret as it is', () => {
    const robot = shown.platforms.find((p) => p.id === 'app') as unknown as Record<string, unknown>;
    expect(robot).toMatchObject({ kind: 'app', corpId: 'ww0123456789', agentId: 1000002 });
    expect(shown.callbacks.onMessage).toMatchObject({ url: 'https://cb.example/onMessage', onError: 'continue' });
  });

  // A guard, not the mechanism: the marks do the masking; this catches a new field whose name says
  // "secret" but whose declaration forgot to say so.
  it('every string field named like a secret is marked secret() where it is declared', () => {
    const looksSecret = /token|secret|passw|credential|confirmation|key|sign|auth/i;
    /** Named like a secret, but a setting about one. */
    const about = new Set(['qq tokenUrl', 'http apiKeyTtl', 'http apiKeyGrace', 'http keyFile']);
    const unmarked = schemas.flatMap(([type, schema]) =>
      fields(schema)
        .filter((f) => looksSecret.test(f.path.split('.').pop()!) && takesString(f.schema) && !marked(f.schema) && !about.has(`${type} ${f.path}`))
        .map((f) => `${type} ${f.path}`),
    );
    expect(unmarked, 'declare these with secret(...) from src/runtime/secret.ts (or, if one is a setting about a secret, list it above)').toEqual([]);
  });
});
