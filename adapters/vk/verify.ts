// Which community a callback is for, and whether it carries that community's secret key.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Community } from './schema.js';

export type Verdict =
  | { ok: true; community: Community }
  | { ok: false; status: 401 | 403; reason: string };

interface Entry {
  community: Community;
  secretDigest: Buffer;
  /** What a confirmation request is answered with: configured, or learnt from VK by autoSetup. */
  confirmation: string | undefined;
}

export class Communities {
  private readonly byId: Map<number, Entry>;

  constructor(list: readonly Community[]) {
    this.byId = new Map(list.map((c) => [c.groupId, { community: c, secretDigest: digest(c.secret), confirmation: c.confirmation }]));
  }

  confirmation(groupId: number): string | undefined {
    return this.byId.get(groupId)?.confirmation;
  }

  /** VK's own confirmation string for a community wins over a configured one (which may be stale). */
  setConfirmation(groupId: number, code: string): void {
    const entry = this.byId.get(groupId);
    if (entry) entry.confirmation = code;
  }

  get(groupId: number): Community | undefined {
    return this.byId.get(groupId)?.community;
  }

  all(): Community[] {
    return [...this.byId.values()].map((e) => e.community);
  }

  /** The community named by `group_id`, if `secret` is its secret key (compared in constant time). */
  verify(groupId: unknown, secret: unknown): Verdict {
    const entry = typeof groupId === 'number' ? this.byId.get(groupId) : undefined;
    if (!entry) return { ok: false, status: 403, reason: 'unknown group_id' };
    // Digests have one length, so the comparison takes the same time whatever the guess.
    if (typeof secret !== 'string' || !timingSafeEqual(digest(secret), entry.secretDigest)) return { ok: false, status: 401, reason: 'wrong or missing secret' };
    return { ok: true, community: entry.community };
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
