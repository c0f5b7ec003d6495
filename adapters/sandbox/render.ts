import type { MediaStore } from '../../src/media/media.js';
import { isMedia, type Segment } from '../../src/message.js';
import type { PageSegment } from './chats.js';

/** Outgoing segments -> what the page shows. Bytes become media URLs; nothing is dropped. */
export function render(content: readonly Segment[], media: MediaStore): PageSegment[] {
  const out: PageSegment[] = [];
  for (const segment of content) {
    if (isMedia(segment)) {
      const url = segment.url ?? (segment.data ? media.register({ data: segment.data, mime: segment.mime ?? 'application/octet-stream', name: segment.name }) : undefined);
      if (url) out.push({ type: segment.type, url, name: segment.name, mime: segment.mime });
      else out.push({ type: 'text', text: `[${segment.type} without data]` });
    } else if (segment.type === 'unknown') {
      out.push({ type: 'text', text: '[unsupported content]' });
    } else {
      out.push(segment);
    }
  }
  return out;
}
