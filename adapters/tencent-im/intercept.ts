// Before* callbacks: Tencent waits for our answer before the action happens. A bot with
// interceptors decides (allow, deny, drop silently, or rewrite the message body) within
// the deadline; a bot without any, or one too slow, lets it through.

import type { AdapterContext } from '../../src/adapter.js';
import type { InterceptDecision } from '../../src/bot/events.js';
import type { Message } from '../../src/message.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
import { actorOf } from './events.js';
import { mentions, normalize, type MessageCallback, type NormalizeContext, type Scene, type TimElem } from './normalize.js';
import { elementsOf, type MediaUrl } from './render.js';

export interface CallbackAnswer {
  ActionStatus: 'OK';
  /** Before* callbacks: 0 allow, 1 refuse (the sender gets an error), 2 drop silently (message callbacks only). */
  ErrorCode: 0 | 1 | 2;
  ErrorInfo: string;
  MsgBody?: TimElem[];
}

export const ok: CallbackAnswer = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };

export interface InterceptOptions {
  ctx: AdapterContext;
  normalize: NormalizeContext;
  mediaUrl: MediaUrl;
  timeoutMs: number;
}

export async function answerBefore(command: string, body: MessageCallback, options: InterceptOptions): Promise<CallbackAnswer> {
  const { ctx, timeoutMs } = options;
  if (actorOf(body) === options.normalize.botAccount) return ok; // our own replies pass unasked
  const isMessage = Array.isArray(body.MsgBody);
  const pending = ctx.intercept(messageOf(body, isMessage, options.normalize), command);
  if (!pending) return ok;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, timeoutMs, 'late')));
  let decision: InterceptDecision | 'late';
  try {
    decision = await Promise.race([pending, late]);
  } catch (error) {
    ctx.logger.error({ command, err: errorMessage(error) }, 'interceptor threw; the action is allowed');
    return ok;
  } finally {
    clearTimeout(timer);
  }
  if (decision === 'late') {
    pending.catch(() => {}); // its eventual failure is no longer anyone's business
    ctx.logger.warn({ command, timeoutMs }, 'interceptor too slow; the action is allowed (raise interceptTimeout, within Tencent\'s callback timeout)');
    return ok;
  }
  try {
    return answerOf(decision, isMessage, command, options);
  } catch (error) {
    // A rewrite we cannot put into Tencent's format (media with neither url nor data…).
    ctx.logger.error({ command, err: errorMessage(error) }, 'interceptor decision could not be answered; the action is allowed');
    return ok;
  }
}

function answerOf(decision: InterceptDecision, isMessage: boolean, command: string, options: InterceptOptions): CallbackAnswer {
  switch (decision.action) {
    case 'allow':
      return ok;
    case 'deny':
      return { ActionStatus: 'OK', ErrorCode: 1, ErrorInfo: decision.reason ?? '' };
    case 'drop':
      // Only message callbacks know silent dropping; elsewhere the closest is refusing.
      return { ActionStatus: 'OK', ErrorCode: isMessage ? 2 : 1, ErrorInfo: '' };
    case 'rewrite': {
      if (!isMessage) {
        options.ctx.logger.warn({ command }, 'rewrite asked for a callback that carries no message; allowed unchanged');
        return ok;
      }
      const { elems } = elementsOf(decision.content, options.mediaUrl);
      return { ...ok, MsgBody: elems };
    }
  }
}

function messageOf(body: MessageCallback, isMessage: boolean, ctx: NormalizeContext): Message {
  const from = actorOf(body) ?? '';
  // An intercepted one-to-one message is seen in the recipient's chat: user:<To_Account>.
  const scene: Scene = typeof body.GroupId === 'string' && body.GroupId ? { kind: 'group', groupId: body.GroupId } : { kind: 'user', account: typeof body.To_Account === 'string' && body.To_Account ? body.To_Account : from };
  const id = body.MsgKey || `${from}:${body.MsgSeq ?? ''}:${body.MsgRandom ?? body.Random ?? ''}`;
  const mentionsBot = mentions(body).accounts.includes(ctx.botAccount) || (scene.kind === 'user' && scene.account === ctx.botAccount);
  return normalize({ id, scene, mentionsBot, stripMention: false }, isMessage ? body : { ...body, From_Account: from, MsgBody: [] }, ctx);
}
