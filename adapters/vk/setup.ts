// autoSetup: our callback server and its events registered on a community through the API, as
// VK's own SDKs offer. Idempotent: a working server already registered with our URL is reused
// (its title and secret key brought up to date); one VK marks as failing is replaced, since only
// adding a server makes VK confirm the address again. Every start converges on the same settings.

import { retry, type RetryPolicy } from '../../src/delivery/retry.js';
import { apiVersion, type Params, type VkApi } from './api.js';
import type { Community } from './schema.js';

/** The events the adapter handles; every other type stays off. */
export const subscribedEvents = { message_new: 1, message_event: 1, message_allow: 1, message_deny: 1 } as const;

interface CallbackServer {
  id: number;
  url?: string;
  status?: string;
}

export interface SetupResult {
  serverId: number;
  created: boolean;
  /** The server's status as VK reports it after setup: "ok" once VK has confirmed the address. */
  status: string | undefined;
}

export interface SetupOptions {
  /** How a call VK failed or throttled is tried again (the core's policy by default). */
  policy?: RetryPolicy;
  /** Aborted when the adapter stops: the call under way and its retries end. */
  signal?: AbortSignal;
}

/**
 * `beforeAdd` learns VK's confirmation string before a new server is added (VK confirms the
 * address right away). A call whose answer was lost may have been carried out: each one is safe
 * to make again, or (a second server added) put right by the next start.
 */
export async function registerCallbackServer(api: VkApi, community: Community, url: string, title: string, beforeAdd: (confirmation: string) => void, options: SetupOptions = {}): Promise<SetupResult> {
  const { groupId, token, secret } = community;
  const { policy, signal } = options;
  const call = <T>(method: string, params: Params) => retry(() => api.call<T>(method, token, { group_id: groupId, ...params }, signal), { policy, signal });
  const { code: confirmation } = await call<{ code: string }>('groups.getCallbackConfirmationCode', {});
  beforeAdd(confirmation);
  const existing = (await call<{ items?: CallbackServer[] }>('groups.getCallbackServers', {})).items ?? [];
  const mine = existing.filter((server) => server.url === url);
  const working = mine.find((server) => server.status === 'ok');
  for (const broken of mine.filter((server) => server !== working)) await call('groups.deleteCallbackServer', { server_id: broken.id });
  let serverId: number;
  if (working) {
    serverId = working.id;
    await call('groups.editCallbackServer', { server_id: serverId, url, title, secret_key: secret });
  } else {
    serverId = (await call<{ server_id: number }>('groups.addCallbackServer', { url, title, secret_key: secret })).server_id;
  }
  await call('groups.setCallbackSettings', { server_id: serverId, api_version: apiVersion, ...subscribedEvents });
  // A server just added is confirmed by VK calling our URL; read back whether that worked.
  const status = working ? working.status : (await call<{ items?: CallbackServer[] }>('groups.getCallbackServers', { server_ids: serverId })).items?.find((server) => server.id === serverId)?.status;
  return { serverId, created: !working, status };
}
