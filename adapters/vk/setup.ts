// autoSetup: our callback server and its events registered on a community through the API, as
// VK's own SDKs offer. Idempotent: a working server already registered with our URL is reused
// (its title and secret key brought up to date); one VK marks as failing is replaced, since only
// adding a server makes VK confirm the address again. Every start converges on the same settings.

import { apiVersion, type VkApi } from './api.js';
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

/** `beforeAdd` learns VK's confirmation string before a new server is added (VK confirms the address right away). */
export async function registerCallbackServer(api: VkApi, community: Community, url: string, title: string, beforeAdd: (confirmation: string) => void): Promise<SetupResult> {
  const { groupId, token, secret } = community;
  const { code: confirmation } = await api.call<{ code: string }>('groups.getCallbackConfirmationCode', token, { group_id: groupId });
  beforeAdd(confirmation);
  const existing = (await api.call<{ items?: CallbackServer[] }>('groups.getCallbackServers', token, { group_id: groupId })).items ?? [];
  const mine = existing.filter((server) => server.url === url);
  const working = mine.find((server) => server.status === 'ok');
  for (const broken of mine.filter((server) => server !== working)) await api.call('groups.deleteCallbackServer', token, { group_id: groupId, server_id: broken.id });
  let serverId: number;
  if (working) {
    serverId = working.id;
    await api.call('groups.editCallbackServer', token, { group_id: groupId, server_id: serverId, url, title, secret_key: secret });
  } else {
    serverId = (await api.call<{ server_id: number }>('groups.addCallbackServer', token, { group_id: groupId, url, title, secret_key: secret })).server_id;
  }
  await api.call('groups.setCallbackSettings', token, { group_id: groupId, server_id: serverId, api_version: apiVersion, ...subscribedEvents });
  // A server just added is confirmed by VK calling our URL; read back whether that worked.
  const status = working ? working.status : (await api.call<{ items?: CallbackServer[] }>('groups.getCallbackServers', token, { group_id: groupId, server_ids: serverId })).items?.find((server) => server.id === serverId)?.status;
  return { serverId, created: !working, status };
}
