// ws for the adapters' gateways, required rather than imported (see ../runtime/require-commonjs.ts):
// its ES module wrapper imports each of its CommonJS files, and Node scans every one first.

import type * as Ws from 'ws';
import { requireCommonJs } from '../runtime/require-commonjs.js';

export const { WebSocket, WebSocketServer } = requireCommonJs<typeof Ws>('ws');
export type WebSocket = InstanceType<typeof Ws.WebSocket>;
