// Websocket mode: one session of the SDK's long-connection client (POST /callback/ws/endpoint,
// then protobuf frames), run by the core supervisor. The SDK reconnects a dropped socket itself
// (with the interval and jitter Lark's endpoint prescribes); when it gives up, the session fails
// and the supervisor backs off and starts a fresh client.

import { LoggerLevel, WSClient, type EventDispatcher } from './sdk.js';
import type { Logger } from '../../src/runtime/logger.js';
import { FatalConnectionError, type SessionControls } from '../../src/inbound/supervisor.js';
import { sdkLogger } from './api.js';

export interface LongConnectionOptions {
  appId: string;
  appSecret: string;
  baseUrl: string;
  dispatcher: EventDispatcher;
  logger: Logger;
  /** A handshake that neither opens nor fails within this long is abandoned and retried. */
  handshakeTimeoutMs: number;
  /** No answer to a ping within this many seconds: the socket is dropped and reconnected. */
  pingTimeoutSeconds: number;
}

export function runLongConnection(options: LongConnectionOptions, { signal, alive }: SessionControls): Promise<void> {
  const { logger } = options;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const client = new WSClient({
      appId: options.appId,
      appSecret: options.appSecret,
      domain: options.baseUrl,
      logger: sdkLogger(logger),
      loggerLevel: LoggerLevel.warn,
      autoReconnect: true,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      wsConfig: { pingTimeout: options.pingTimeoutSeconds },
      onReady: () => {
        logger.info('Lark long connection open');
        alive();
      },
      onReconnected: () => {
        logger.info('Lark long connection re-established');
        alive();
      },
      onError: (error) => finish(error),
    });
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      client.close({ force: true });
      if (!error) return resolve();
      if (isRefusal(error)) reject(new FatalConnectionError(`${error.message}; check appId and appSecret, and that the app subscribes to events over the long connection`));
      else reject(error);
    };
    const onAbort = () => finish();
    signal.addEventListener('abort', onAbort, { once: true });
    client.start({ eventDispatcher: options.dispatcher }).catch((error: unknown) => finish(error instanceof Error ? error : new Error(String(error))));
  });
}

/**
 * The SDK gives up on every non-zero code from /callback/ws/endpoint, but only a refusal of the
 * app (514 auth failed, 403 forbidden) is for good; "system busy" (1) or too many connections
 * (1000040350) pass, so the supervisor retries those with backoff.
 */
const refusalCodes = new Set([403, 514]);

function isRefusal(error: Error): boolean {
  const code = /^pullConnectConfig failed: code=(\d+)/.exec(error.message)?.[1];
  return code !== undefined && refusalCodes.has(Number(code));
}
