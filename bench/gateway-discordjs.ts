// (b) A bare discord.js 14 Client: the intents and cache limits of Switchboard's Discord adapter,
// and a messageCreate listener that counts.
import { Client, Events } from 'discord.js';
import { defaultIntents } from '../adapters/discord/schema.js';
import { cacheLimits } from '../adapters/discord/session.js';
import { GatewayIntentBits } from 'discord-api-types/v10';
import { gatewayEnv, reached } from './gateway-sut.js';

const client = new Client({
  intents: defaultIntents.reduce((mask, name) => mask | GatewayIntentBits[name], 0),
  rest: { api: `${gatewayEnv.apiRoot}/api` },
  makeCache: cacheLimits(),
});
client.on(Events.MessageCreate, () => reached());
await client.login(gatewayEnv.token);
