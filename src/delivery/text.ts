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
    const cut = cutIndex(rest, limit, atomic);
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^[\n ]/, ''); // the break itself is not repeated
  }
  if (rest) parts.push(rest);
  return parts;
}

/** Where splitText cuts a text longer than `limit`: the length of the first part. */
export function cutIndex(text: string, limit: number, atomic?: RegExp): number {
  let cut = text.lastIndexOf('\n', limit);
  if (cut < limit / 2) cut = text.lastIndexOf(' ', limit);
  if (cut < limit / 2) cut = limit;
  if (atomic) cut = outsideAtomic(text, cut, atomic);
  if (/[\uD800-\uDBFF]/.test(text[cut - 1] ?? '')) cut--;
  return cut <= 0 ? limit : cut; // an atomic span longer than the limit: cut it rather than loop
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
