// @larksuiteoapi/node-sdk, required rather than imported (see src/runtime/require-commonjs.ts): the
// values this adapter uses, and the types of its classes.

import type * as Lark from '@larksuiteoapi/node-sdk';
import { requireCommonJs } from '../../src/runtime/require-commonjs.js';

const lark: typeof Lark = requireCommonJs('@larksuiteoapi/node-sdk');

export const { Client, defaultHttpInstance, DefaultCache, EventDispatcher, LoggerLevel, WSClient } = lark;
// Annotated: its inferred type names a type the SDK does not export, which a .d.ts cannot.
export const withTenantToken: typeof Lark.withTenantToken = lark.withTenantToken;
export type Client = Lark.Client;
export type EventDispatcher = Lark.EventDispatcher;
