// What a fault drill counts: what users were sent, against what the platform was told was taken.

export interface Send {
  chat: string;
  text: string;
  /** When the fake platform received it (ms since the epoch). */
  at: number;
}

export interface Verdict {
  /** Acknowledged to the platform but never answered. */
  lost: string[];
  /** Answered more than once: each with the times of its copies. */
  doubled: { chat: string; text: string; at: number[] }[];
  /** A double that no kill explains: two of its copies in a row with no kill between them (each copy after the first needs a kill of its own). */
  unexplained: string[];
  /** Kills after which one chat got more than one double. */
  crowdedKills: string[];
  /** Chats whose messages were answered out of order. */
  disordered: string[];
}

/**
 * `expected`: per chat, the texts in the order the platform delivered them; `acked`: the texts
 * the platform was told were received; `kills`: when each SIGKILL was sent, and when the next
 * process was serving again.
 */
export function judge(sends: Send[], expected: Map<string, string[]>, acked: Set<string>, kills: { at: number; restartedAt: number }[]): Verdict {
  const byText = new Map<string, Send[]>();
  for (const send of sends) byText.set(send.text, [...(byText.get(send.text) ?? []), send]);
  const lost = [...acked].filter((text) => !byText.has(text)).sort();
  const doubled = [...byText.entries()].filter(([, copies]) => copies.length > 1).map(([text, copies]) => ({ chat: copies[0]!.chat, text, at: copies.map((c) => c.at) }));
  const unexplained: string[] = [];
  const perKillChat = new Map<string, number>();
  for (const double of doubled) {
    // An item whose send was in flight at a kill: its copies straddle that kill. (The platform may
    // read the killed process's last request a little late, so the first copy counts up to the
    // moment the next process served; the second can only come from a process started after the kill.)
    // A third copy needs a later kill of its own: the send was in flight again when that one came.
    const straddled: { at: number }[] = [];
    for (let i = 1; i < double.at.length; i++) {
      const after = straddled.at(-1)?.at ?? -Infinity;
      const kill = kills.find((k) => k.at > after && double.at[i - 1]! <= k.restartedAt && double.at[i]! >= k.at);
      if (!kill) break;
      straddled.push(kill);
    }
    if (straddled.length !== double.at.length - 1) {
      unexplained.push(`${double.chat}/${double.text} at ${double.at.join(', ')}`);
      continue;
    }
    for (const kill of straddled) {
      const key = `${kill.at}:${double.chat}`;
      perKillChat.set(key, (perKillChat.get(key) ?? 0) + 1);
    }
  }
  const crowdedKills = [...perKillChat.entries()].filter(([, n]) => n > 1).map(([key, n]) => `${key} (${n} doubles)`);
  const disordered: string[] = [];
  for (const [chat, order] of expected) {
    const seen = sends.filter((s) => s.chat === chat).map((s) => s.text);
    const firsts = seen.filter((text, i) => seen.indexOf(text) === i);
    const wanted = order.filter((text) => firsts.includes(text));
    // Answered in the order delivered, and a repeat comes back before anything newer of its chat.
    const repeatsInPlace = seen.every((text, i) => seen.indexOf(text) === i || seen.slice(seen.indexOf(text) + 1, i).every((between) => order.indexOf(between) <= order.indexOf(text)));
    if (firsts.join('\n') !== wanted.join('\n') || !repeatsInPlace) disordered.push(`${chat}: ${seen.join(' ')}`);
  }
  return { lost, doubled, unexplained, crowdedKills, disordered };
}
