// discord.js, required rather than imported (see src/runtime/require-sdk.ts): the values this
// adapter uses, and the types of those it also names as types.

import type * as Discord from 'discord.js';
import { requireSdk } from '../../src/runtime/require-sdk.js';

const discord: typeof Discord = requireSdk('discord.js');

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
