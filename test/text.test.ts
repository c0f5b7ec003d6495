import { describe, expect, it } from 'vitest';
import { plan } from '../adapters/telegram/render.js';
import { splitText } from '../src/delivery/text.js';

describe('splitText', () => {
  it('prefers a newline, then a space, and never exceeds the limit', () => {
    expect(splitText(`${'a'.repeat(15)}\n${'b'.repeat(10)}`, 20)).toEqual(['a'.repeat(15), 'b'.repeat(10)]);
    expect(splitText('aaaaaa bbbbbbb', 10)).toEqual(['aaaaaa', 'bbbbbbb']);
    expect(splitText('aaaa bbbbbbbb cccc', 10)).toEqual(['aaaa bbbbb', 'bbb cccc']);
    expect(splitText('x'.repeat(25), 10)).toEqual(['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
  });

  it('never cuts a surrogate pair or an atomic span', () => {
    const emoji = `${'x'.repeat(9)}😀yz`;
    expect(splitText(emoji, 10)).toEqual(['x'.repeat(9), '😀yz']);
    expect(splitText(`${'x'.repeat(8)}&amp;yy`, 10, /&[a-z]+;/g)).toEqual(['x'.repeat(8), '&amp;yy']);
  });

  it('keeps Telegram links whole when a long reply is split', () => {
    const long = [{ type: 'text' as const, text: 'y'.repeat(4090) }, { type: 'link' as const, url: 'https://example.com', text: 'the docs' }];
    const parts = plan(long).map((p) => (p.kind === 'text' ? p.html : ''));
    expect(parts).toEqual(['y'.repeat(4090), '<a href="https://example.com">the docs</a>']);
  });
});
