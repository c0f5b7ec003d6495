// autoSetup: our callback server and its events registered on a community through the API, as
// VK's own SDKs offer. Idempotent: a server already registered with our URL is reused (its secret
// key brought up to date), so every start converges on the same settings.

import { apiVersion, type VkApi } from './api.js';
import type { Community } from './schema.js';

/** The events the adapter handles; every other type stays off. */
export const subscribedEvents = { message_new: 1, message_event: 1, message_allow: 1, message_deny: 1 } as const;

interface CallbackServer {
  id: number;
  url?: string;
}

export async function registerCallbackServer(api: VkApi, community: Community, url: string, title: string): Promise<{ serverId: number; created: boolean }> {
  const { groupId, token, secret } = community;
  const existing = await api.call<{ items?: CallbackServer[] }>('groups.getCallbackServers', token, { group_id: groupId });
  const ours = existing.items?.find((server) => server.url === url);
  let serverId: number;
  if (ours) {
    serverId = ours.id;
    await api.call('groups.editCallbackServer', token, { group_id: groupId, server_id: serverId, url, title, secret_key: secret });
  } else {
    // VK confirms the address right away (a confirmation request to `url`), so our route must already answer.
    serverId = (await api.call<{ server_id: number }>('groups.addCallbackServer', token, { group_id: groupId, url, title, secret_key: secret })).server_id;
  }
  await api.call('groups.setCallbackSettings', token, { group_id: groupId, server_id: serverId, api_version: apiVersion, ...subscribedEvents });
  return { serverId, created: !ours };
}
