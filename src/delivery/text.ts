// Splitting long text for platforms with a message length limit.

/**
 * Splits `text` so no part is longer than `limit` UTF-16 units: at a newline if one is in the
 * second half of the window, else at a space, else hard. Never cuts a surrogate pair, nor inside
 * any span `atomic` matches (an HTML tag or entity, a `<@id>` mention…).
 */
export function splitText(text: string, limit: number, atomic?: RegExp): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > limit) {
    let cut = rest.lastIndexOf('\n', limit);
    if (cut < limit / 2) cut = rest.lastIndexOf(' ', limit);
    if (cut < limit / 2) cut = limit;
    if (atomic) cut = outsideAtomic(rest, cut, atomic);
    if (/[\uD800-\uDBFF]/.test(rest[cut - 1] ?? '')) cut--;
    if (cut <= 0) cut = limit; // an atomic span longer than the limit: cut it rather than loop
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^[\n ]/, ''); // the break itself is not repeated
  }
  if (rest) parts.push(rest);
  return parts;
}

function outsideAtomic(text: string, cut: number, atomic: RegExp): number {
  const pattern = new RegExp(atomic.source, atomic.flags.includes('g') ? atomic.flags : `${atomic.flags}g`);
  for (const match of text.slice(0, cut + 512).matchAll(pattern)) {
    const start = match.index;
    if (start >= cut) break;
    if (start + match[0].length > cut) return start;
  }
  return cut;
}
