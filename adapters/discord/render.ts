// Outgoing segments -> the Discord messages that show them: text (split at 2000 characters),
// attachments (up to 10 a message), buttons as message components, a quote as message_reference.

import type { APIActionRowComponent, APIButtonComponent, APIAllowedMentions } from 'discord.js';
import { AllowedMentionsTypes, ButtonStyle, ComponentType } from './sdk.js';
import { buttonsAsText, quotedMessageId, type Button, type MediaSegment, type Segment } from '../../src/message.js';
import { splitText } from '../../src/delivery/text.js';

export const textLimit = 2000;
const filesPerMessage = 10;
const rowsPerMessage = 5;
const buttonsPerRow = 5;
const labelLimit = 80;
const customIdLimit = 100;

export type ActionRow = APIActionRowComponent<APIButtonComponent>;

/** One Discord message to send. */
export interface Planned {
  content: string;
  media: MediaSegment[];
  components: ActionRow[];
}

export interface Plan {
  messages: Planned[];
  /** Only the mentions the bot put in as mention segments may ping; text that looks like one does not. */
  allowedMentions: APIAllowedMentions;
}

/** A mention, channel or custom emoji token: never cut inside one. */
const atom = /<(?:@[!&]?|#|a?:\w+:)\d+>/g;

export function plan(content: readonly Segment[]): Plan {
  let text = '';
  const media: MediaSegment[] = [];
  const rows: Button[][] = [];
  const users = new Set<string>();
  const roles = new Set<string>();
  let everyone = false;
  for (const segment of content) {
    switch (segment.type) {
      case 'text':
        text += segment.text;
        break;
      case 'mention':
        if (segment.all) {
          everyone = true;
          text += segment.name === 'here' ? '@here' : '@everyone';
        } else if (segment.userId && /^&\d+$/.test(segment.userId)) {
          roles.add(segment.userId.slice(1));
          text += `<@${segment.userId}>`;
        } else if (segment.userId && /^\d+$/.test(segment.userId)) {
          users.add(segment.userId);
          text += `<@${segment.userId}>`;
        } else text += `@${segment.name ?? segment.userId ?? ''}`;
        break;
      case 'link':
        text += segment.text && segment.text !== segment.url ? `[${segment.text}](${segment.url})` : segment.url;
        break;
      case 'quote':
        break; // carried as message_reference by the sender
      case 'buttons':
        rows.push(...segment.rows);
        break;
      case 'unknown':
        text += '[unsupported content]';
        break;
      default:
        media.push(segment);
    }
  }
  const { components, overflow } = toComponents(rows);
  if (overflow.length > 0) text += `${text && !text.endsWith('\n') ? '\n' : ''}${buttonsAsText(overflow)}`;
  const messages: Planned[] = text.trim() === '' ? [] : splitText(text, textLimit, atom).map((part) => ({ content: part, media: [], components: [] }));
  for (let i = 0; i < media.length; i += filesPerMessage) {
    const batch = media.slice(i, i + filesPerMessage);
    const last = messages.at(-1);
    if (i === 0 && last) last.media = batch;
    else messages.push({ content: '', media: batch, components: [] });
  }
  if (components.length > 0) {
    const last = messages.at(-1);
    if (last) last.components = components;
    else messages.push({ content: 'Choose:', media: [], components });
  }
  const allowedMentions: APIAllowedMentions = { parse: everyone ? [AllowedMentionsTypes.Everyone] : [], users: [...users], roles: [...roles], replied_user: false };
  return { messages, allowedMentions };
}

/** The message a reply quotes, when it is a Discord snowflake (a click's id is not). */
export function quotedId(content: readonly Segment[], replyTo: string | undefined): string | undefined {
  const id = quotedMessageId(content, replyTo);
  return id && /^\d+$/.test(id) ? id : undefined;
}

/**
 * Button rows -> action rows (5 buttons a row, 5 rows a message). What does not fit, and a button
 * whose value repeats one already shown (Discord refuses duplicate custom_ids), comes back to be
 * shown as text.
 */
function toComponents(rows: readonly Button[][]): { components: ActionRow[]; overflow: Button[][] } {
  const components: ActionRow[] = [];
  const overflow: Button[][] = [];
  const used = new Set<string>();
  const repeated: Button[] = [];
  for (const row of rows) {
    const unique = row.filter((button) => {
      if (button.url) return true;
      const id = customId(button);
      if (used.has(id)) return void repeated.push(button), false;
      used.add(id);
      return true;
    });
    for (let i = 0; i < unique.length; i += buttonsPerRow) {
      const chunk = unique.slice(i, i + buttonsPerRow);
      if (components.length >= rowsPerMessage) overflow.push(chunk);
      else components.push({ type: ComponentType.ActionRow, components: chunk.map(toButton) });
    }
  }
  if (repeated.length > 0) overflow.push(repeated);
  return { components, overflow };
}

function customId(button: Button): string {
  return (button.value ?? button.label).slice(0, customIdLimit) || button.label.slice(0, labelLimit) || '·';
}

function toButton(button: Button): APIButtonComponent {
  const label = button.label.slice(0, labelLimit) || '·';
  if (button.url) return { type: ComponentType.Button, style: ButtonStyle.Link, label, url: button.url };
  return { type: ComponentType.Button, style: ButtonStyle.Primary, label, custom_id: customId(button) };
}
