// A Switchboard channel id says which QQ API a reply goes to: the four message scenes each
// have their own send endpoint and id space.

export type Scene =
  | { kind: 'group'; openid: string }
  | { kind: 'user'; openid: string }
  | { kind: 'channel'; channelId: string }
  | { kind: 'dm'; guildId: string };

export type SceneKind = Scene['kind'];

export function channelIdOf(scene: Scene): string {
  switch (scene.kind) {
    case 'group':
    case 'user':
      return `${scene.kind}:${scene.openid}`;
    case 'channel':
      return `channel:${scene.channelId}`;
    case 'dm':
      return `dm:${scene.guildId}`;
  }
}

/** `group:<openid>`, `user:<openid>`, `channel:<id>` or `dm:<guild_id>`; undefined for anything else. */
export function sceneOf(channelId: string): Scene | undefined {
  const match = /^(group|user|channel|dm):([A-Za-z0-9_-]{1,128})$/.exec(channelId);
  if (!match) return undefined;
  const [, kind, id] = match as unknown as [string, SceneKind, string];
  if (kind === 'group' || kind === 'user') return { kind, openid: id };
  if (kind === 'channel') return { kind, channelId: id };
  return { kind, guildId: id };
}

/** The send endpoint of a scene, and of its rich-media upload where it has one (groups and users). */
export function endpointsOf(scene: Scene): { messages: string; files?: string } {
  switch (scene.kind) {
    case 'group':
      return { messages: `/v2/groups/${scene.openid}/messages`, files: `/v2/groups/${scene.openid}/files` };
    case 'user':
      return { messages: `/v2/users/${scene.openid}/messages`, files: `/v2/users/${scene.openid}/files` };
    case 'channel':
      return { messages: `/channels/${scene.channelId}/messages` };
    case 'dm':
      return { messages: `/dms/${scene.guildId}/messages` };
  }
}
