// The console's API, as the page calls it: reads with the session cookie, actions with its CSRF token.

export interface StageSummary { stage: string; status?: number; ms: number; outcome: string; error?: string }
export interface DeliverySummary { key: string; ok: boolean; ids: string[]; error?: string; ms: number; edits?: number }
export interface EventSummary {
  id: string; seq: number; at: number; platform: string; bot: string; chat: string; user: string; text: string;
  stages: StageSummary[]; handler?: { ms: number; outcome: string; error?: string }; deliveries: DeliverySummary[]; outcome?: string; ms?: number;
}
export interface Body { text: string; truncated?: number; base64?: true }
export interface StageEntry {
  stage: string; url: string; request?: { headers: Record<string, string>; body: Body }; status?: number;
  response?: { headers: Record<string, string>; body: Body; contentType?: string }; ms: number; outcome: string; error?: string; data?: Body;
}
export interface EventRecord extends Omit<EventSummary, 'stages' | 'deliveries'> {
  message: Body; stages: StageEntry[]; deliveries: (DeliverySummary & { message: Body })[]; logs: string[];
}
export interface Connection { platform: string; type: string; name: string; state: string; since: number; held: boolean; lastError?: string }
export interface OutboxItem { key: string; eventId: string; state: string; attempts: number; error?: string; updatedAt: number; ids: string[]; message: { to: { botId: string; channelId: string }; content: unknown[] } }
export interface Charts {
  intervalMs: number; at: number[]; messagesPerMinute: Record<string, number[]>;
  latency: Record<string, { p50: (number | null)[]; p99: (number | null)[] }>;
  errorRate: { messages: (number | null)[]; callbacks: (number | null)[]; deliveries: (number | null)[] };
}

let csrf: string | undefined;

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function answer<T>(response: Response): Promise<T> {
  if (response.status === 401) {
    location.assign('/console/login');
    throw new ApiError(401, 'logged out');
  }
  const body = (await response.json().catch(() => ({}))) as T & { error?: string };
  if (!response.ok) throw new ApiError(response.status, body.error ?? `HTTP ${response.status}`);
  return body;
}

export async function get<T>(path: string): Promise<T> {
  return answer<T>(await fetch(`/console/api/${path}`, { credentials: 'same-origin' }));
}

export async function act<T>(path: string): Promise<T> {
  csrf ??= (await get<{ csrf: string }>('session')).csrf;
  return answer<T>(await fetch(`/console/api/${path}`, { method: 'POST', credentials: 'same-origin', headers: { 'x-csrf-token': csrf } }));
}

export function ago(at: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
}

export function time(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}
