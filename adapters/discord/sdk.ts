// discord.js, required rather than imported (see src/runtime/require-commonjs.ts): the values this
// adapter uses, and the types of those it also names as types.

import type * as Discord from 'discord.js';
import { requireCommonJs } from '../../src/runtime/require-commonjs.js';

const discord: typeof Discord = requireCommonJs('discord.js');

export const {
  AllowedMentionsTypes,
  ButtonStyle,
  ChannelType,
  Client,
  CloseCodes,
  ComponentType,
  DiscordAPIError,
  Events,
  GatewayCloseCodes,
  GatewayDispatchEvents,
  HTTPError,
  InteractionResponseType,
  InteractionType,
  MessageType,
  Options,
  RateLimitError,
  REST,
  Routes,
  SimpleShardingStrategy,
  WebSocketShardStatus,
} = discord;
// Annotated: its inferred type names a module of undici nested in @discordjs/rest, which a .d.ts cannot.
export const DefaultRestOptions: typeof Discord.DefaultRestOptions = discord.DefaultRestOptions;
export type Client = Discord.Client;
export type REST = Discord.REST;
export type WebSocketShardStatus = Discord.WebSocketShardStatus;
