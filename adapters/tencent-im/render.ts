// Outgoing segments -> TIM elements for the REST API. Tencent takes media only by URL (images as
// TIMImageElem with ImageInfoArray, everything else as TIMFileElem), has no buttons (numbered
// text instead), and limits a message to 12 KB: long text is split into several messages.

import { createHash } from 'node:crypto';
import { buttonsAsText, type MediaSegment, type Segment } from '../../src/message.js';
import { cutIndex } from '../../src/delivery/text.js';
import { imageFormat, imageSize } from './media.js';
import type { TimElem } from './normalize.js';

/** UTF-16 units per text element: 3000 stays under Tencent's 12 KB body even in 3-byte CJK. */
export const textLimit = 3000;
/** Bytes of MsgBody JSON per message, leaving room for the request's other fields. */
const bodyBudget = 11_000;
/** JSON around a text element's text, with room for escapes. */
const elemOverhead = 256;

export interface GroupAt {
  GroupAtAllFlag: 0 | 1;
  GroupAt_Account?: string;
}

export interface Rendered {
  body: TimElem[];
  /** Group @-mentions (send_group_msg's GroupAtInfo). */
  at: GroupAt[];
}

/** Where a media segment's bytes can be fetched (ours for bytes, the given or Tencent's own URL otherwise). */
export type MediaUrl = (media: MediaSegment) => string;

/** The elements of `content`, in order; text runs are merged and split at the limit. */
export function elementsOf(content: readonly Segment[], mediaUrl: MediaUrl): { elems: TimElem[]; at: GroupAt[] } {
  const elems: TimElem[] = [];
  const at: GroupAt[] = [];
  let text = '';
  const flush = () => {
    if (text.trim() !== '') for (const part of elementTexts(text)) elems.push({ MsgType: 'TIMTextElem', MsgContent: { Text: part } });
    text = '';
  };
  for (const segment of content) {
    switch (segment.type) {
      case 'text':
        text += segment.text;
        break;
      case 'mention':
        if (segment.all) at.push({ GroupAtAllFlag: 1 });
        else if (segment.userId) at.push({ GroupAtAllFlag: 0, GroupAt_Account: segment.userId });
        text += segment.all ? '@all ' : `@${segment.name ?? segment.userId ?? ''} `;
        break;
      case 'link':
        text += segment.text && segment.text !== segment.url ? `${segment.text} (${segment.url})` : segment.url;
        break;
      case 'quote':
        break; // the REST API has no plain quote field; the reply goes to the same chat
      case 'buttons':
        text += `${text && !text.endsWith('\n') ? '\n' : ''}${buttonsAsText(segment.rows)}`;
        break;
      case 'unknown': {
        // A TIM element that came in (a face, a custom element) goes back out unchanged.
        const raw = segment.raw as Partial<TimElem> | null;
        if (raw && typeof raw.MsgType === 'string' && typeof raw.MsgContent === 'object' && raw.MsgContent !== null) {
          flush();
          elems.push({ MsgType: raw.MsgType, MsgContent: raw.MsgContent });
        } else text += '[unsupported content]';
        break;
      }
      default:
        flush();
        elems.push(mediaElem(segment, mediaUrl(segment)));
    }
  }
  flush();
  return { elems, at };
}

/**
 * Text cut into elements of at most textLimit. The break is kept (at the start of the next element):
 * a message's text elements are shown run together, so a dropped space would join two words.
 */
function elementTexts(text: string): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > textLimit) {
    const cut = cutIndex(rest, textLimit);
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  parts.push(rest);
  return parts;
}

/** Packs elements into as few messages as fit Tencent's size limit; mentions ride on the first. */
export function render(content: readonly Segment[], mediaUrl: MediaUrl): Rendered[] {
  const { elems, at } = elementsOf(content, mediaUrl);
  const out: Rendered[] = [];
  let current: TimElem[] = [];
  let size = 0;
  for (const elem of elems) {
    const bytes = elem.MsgType === 'TIMTextElem' ? Buffer.byteLength(String(elem.MsgContent.Text)) + elemOverhead : Buffer.byteLength(JSON.stringify(elem));
    if (current.length > 0 && size + bytes > bodyBudget) {
      out.push({ body: current, at: out.length === 0 ? at : [] });
      current = [];
      size = 0;
    }
    current.push(elem);
    size += bytes;
  }
  if (current.length > 0) out.push({ body: current, at: out.length === 0 ? at : [] });
  return out;
}

function mediaElem(media: MediaSegment, url: string): TimElem {
  const uuid = createHash('sha1').update(url).digest('hex');
  const size = media.data?.byteLength ?? 0;
  if (media.type === 'image') {
    const { width, height } = imageSize(media.data);
    // Type 1 original, 2 large, 3 thumbnail: clients pick one by use; all point at the same bytes.
    const info = (type: number) => ({ Type: type, Size: size, Width: width, Height: height, URL: url });
    return { MsgType: 'TIMImageElem', MsgContent: { UUID: uuid, ImageFormat: imageFormat(media.mime), ImageInfoArray: [info(1), info(2), info(3)] } };
  }
  const name = media.name ?? `${media.type}${extensionOf(media.mime)}`;
  return { MsgType: 'TIMFileElem', MsgContent: { Url: url, UUID: uuid, FileSize: size, FileName: name, Download_Flag: 2 } };
}

function extensionOf(mime: string | undefined): string {
  const sub = mime?.split('/')[1]?.replace(/[^a-z0-9]/gi, '');
  return sub ? `.${sub.slice(0, 8)}` : '';
}
