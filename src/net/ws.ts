// ws for the adapters' gateways, required rather than imported (see ../runtime/require-sdk.ts):
// its ES module wrapper imports each of its CommonJS files, and Node scans every one first.

import type * as Ws from 'ws';
import { requireSdk } from '../runtime/require-sdk.js';

export const { WebSocket, WebSocketServer } = requireSdk<typeof Ws>('ws');
export type WebSocket = InstanceType<typeof Ws.WebSocket>;
