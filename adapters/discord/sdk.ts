// discord.js, required rather than imported (see src/runtime/require-sdk.ts): the values this
// adapter uses, and the types of those it also names as types.

import type * as Discord from 'discord.js';
import { requireSdk } from '../../src/runtime/require-sdk.js';

export const {
  AllowedMentionsTypes,
  ButtonStyle,
  ChannelType,
  Client,
  CloseCodes,
  ComponentType,
  DefaultRestOptions,
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
} = requireSdk<typeof Discord>('discord.js');
export type Client = Discord.Client;
export type REST = Discord.REST;
export type WebSocketShardStatus = Discord.WebSocketShardStatus;
