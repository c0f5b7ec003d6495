// @larksuiteoapi/node-sdk, required rather than imported (see src/runtime/require-sdk.ts): the
// values this adapter uses, and the types of its classes.

import type * as Lark from '@larksuiteoapi/node-sdk';
import { requireSdk } from '../../src/runtime/require-sdk.js';

export const { Client, defaultHttpInstance, DefaultCache, EventDispatcher, LoggerLevel, WSClient, withTenantToken } = requireSdk<typeof Lark>('@larksuiteoapi/node-sdk');
export type Client = Lark.Client;
export type EventDispatcher = Lark.EventDispatcher;
