import { z } from 'zod';

export const sandboxConfig = z.strictObject({
  id: z.string(),
  type: z.literal('sandbox'),
  /** The bot's display name; users mention it as @name in groups. */
  name: z.string().min(1).max(64).default('Switchboard'),
  /** Messages kept per chat for the page's history. */
  history: z.number().int().min(1).max(10_000).default(200),
});

export type SandboxConfig = z.output<typeof sandboxConfig>;

const MiB = 1024 * 1024;

export const sandboxPost = z.strictObject({
  user: z.strictObject({ id: z.string().min(1).max(64), name: z.string().min(1).max(64) }),
  chat: z.strictObject({
    id: z.string().regex(/^(dm|group):[^\s]{1,64}$/, 'expected dm:<user> or group:<name>'),
    type: z.enum(['direct', 'group']),
    name: z.string().max(64).optional(),
  }),
  text: z.string().max(4096).optional(),
  attachments: z
    .array(
      z.strictObject({
        kind: z.enum(['image', 'file']),
        name: z.string().min(1).max(255),
        mime: z.string().min(1).max(255),
        data: z.base64().max(Math.ceil((5 * MiB * 4) / 3) + 4, 'an attachment is larger than 5 MiB'),
      }),
    )
    .max(4)
    .optional(),
  replyTo: z.string().max(64).optional(),
});

export type SandboxPost = z.output<typeof sandboxPost>;

/** Room for four 5 MiB attachments in base64 plus the JSON around them. */
export const postLimit = 28 * MiB;
