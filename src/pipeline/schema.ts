// zod schemas of the normalized types, for data that comes back from outside (a callback's
// JSON merge) and must be a valid Message, Request or Result again before the pipeline goes on.

import { z } from 'zod';
import type { Request, Result } from './lifecycle.js';
import type { Message, Segment } from '../message.js';

/** What a stage's data must be again after a callback's merge. */
export interface StageSchemas {
  message: z.ZodType<Message, unknown>;
  request: z.ZodType<Request, unknown>;
  result: z.ZodType<Result, unknown>;
}

let built: StageSchemas | undefined;

/**
 * Built at the first callback that patches a stage, not as the runtime loads: some thirty zod
 * schemas, a few ms of every start, that a Switchboard without callbacks never uses.
 */
export function stageSchemas(): StageSchemas {
  return (built ??= buildStageSchemas());
}

function buildStageSchemas(): StageSchemas {
  /** Bytes travel as base64 in JSON; in memory they are Uint8Array. */
  const bytes = z.union([z.instanceof(Uint8Array), z.base64().transform((s) => new Uint8Array(Buffer.from(s, 'base64')))]);

  const button = z.object({ label: z.string(), value: z.string().optional(), url: z.string().optional() });
  const media = (type: 'image' | 'audio' | 'video' | 'file') =>
    z.object({ type: z.literal(type), url: z.string().optional(), data: bytes.optional(), mime: z.string().optional(), name: z.string().optional() }).refine((m) => m.url !== undefined || m.data !== undefined, `${type} needs url or data`);

  const segmentSchema: z.ZodType<Segment, unknown> = z.union([
    z.object({ type: z.literal('text'), text: z.string() }),
    z.object({ type: z.literal('mention'), userId: z.string().optional(), name: z.string().optional(), all: z.boolean().optional() }),
    media('image'),
    media('audio'),
    media('video'),
    media('file'),
    z.object({ type: z.literal('quote'), messageId: z.string() }),
    z.object({ type: z.literal('link'), url: z.string(), text: z.string().optional() }),
    z.object({ type: z.literal('buttons'), rows: z.array(z.array(button)) }),
    z.object({ type: z.literal('unknown'), raw: z.unknown() }),
  ]) as z.ZodType<Segment, unknown>;

  const channelType = z.enum(['direct', 'group', 'channel', 'thread']);
  const channelRef = z.object({ botId: z.string(), channelId: z.string(), type: channelType.optional() });

  const messageSchema: z.ZodType<Message, unknown> = z.object({
    id: z.string(),
    platform: z.string(),
    botId: z.string(),
    channel: z.object({ id: z.string(), type: channelType, guildId: z.string().optional(), name: z.string().optional() }),
    author: z.object({ id: z.string(), name: z.string().optional(), username: z.string().optional(), isBot: z.boolean() }),
    content: z.array(segmentSchema),
    text: z.string(),
    replyTo: z.string().optional(),
    mentionsBot: z.boolean(),
    timestamp: z.number(),
    raw: z.unknown(),
  }) as z.ZodType<Message, unknown>;

  const requestSchema: z.ZodType<Request, unknown> = z.object({
    command: z.string().nullable(),
    args: z.record(z.string(), z.unknown()),
    route: z.string().nullable(),
    error: z.string().optional(),
  });

  const resultSchema: z.ZodType<Result, unknown> = z.object({
    replies: z.array(z.object({ to: channelRef, content: z.array(segmentSchema), replyTo: z.string().optional(), inResponseTo: z.string().optional() })),
    data: z.record(z.string(), z.unknown()),
  }) as z.ZodType<Result, unknown>;
  return { message: messageSchema, request: requestSchema, result: resultSchema };
}

/** JSON.stringify that writes bytes as base64 (a Buffer's own toJSON would write a list of numbers). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v: unknown) {
    const original = this[key];
    return original instanceof Uint8Array ? Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') : v;
  });
}
