// How far one event got, as the store keeps it: each entry names the last finished step and
// carries what the next step needs. After a crash an event resumes from its entry, so a
// callback that answered is not asked again and a handler that finished does not run again.

import type { PlatformEvent } from '../bot/events.js';
import type { Message, Segment } from '../message.js';
import type { Request, Result } from './lifecycle.js';

/** Content callbacks added along the way, sent after the replies. */
type Extras = Segment[][];

export type Journal = MessageJournal | EventJournal;

/** A platform event that is not a chat message: its handlers and onEvent run again after a crash (its sends are in the outbox). */
export type EventJournal = { stage: 'event'; event: PlatformEvent };

export type MessageJournal =
  /** Admitted: recorded before the platform was answered; nothing run yet. */
  | { stage: 'received'; message: Message }
  /** onMessage answered (its changes merged into `message`). */
  | { stage: 'onMessage'; message: Message; extras: Extras }
  /** Routed, and onPreSend answered. */
  | { stage: 'onPreSend'; message: Message; request: Request; extras: Extras }
  /** The handler returned; written only when an onResult callback is still to be asked. */
  | { stage: 'handled'; message: Message; request: Request; result: Result; extras: Extras }
  /** What to send is in the outbox (under `<eventId>:<index>`); deliveries under way. */
  | { stage: 'delivering'; message: Message; request?: Request; result?: Result; outcome: Outcome }
  /** Every item delivered or given up; written only when an onSent callback is still to be told. */
  | { stage: 'delivered'; message: Message; request?: Request; result?: Result; outcome: Outcome };

/** How handling ended, for the log line and the messages metric. */
export type Outcome = 'answered' | 'rejected' | 'limited' | 'handler failed' | 'delivery failed' | 'failed';
