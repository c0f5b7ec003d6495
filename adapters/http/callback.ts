import { postJson } from '../../src/callbacks/client.js';
import { callbackPolicy, exchangeFailure } from '../../src/callbacks/policy.js';
import { secretKey, signatureHeaders } from '../../src/callbacks/signing.js';
import { classifyStatus, fatal, PlatformError, retry, type Failure, type RetryPolicy } from '../../src/delivery/retry.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
import type { Item } from './render.js';
import type { HttpConfig } from './schema.js';

/**
 * Callback mode: POSTs `{msg_id, data}` to the client's callbackUrl, signed like the lifecycle
 * callbacks, tried again under the core retry policy made from callbackRetries and
 * callbackRetryDelay. The webhook-id is the same on every try, so a receiver that saw a success
 * can drop a late duplicate; after a success nothing is resent.
 */
export class CallbackSender {
  private readonly key: Buffer | undefined;
  private readonly policy: RetryPolicy;

  constructor(private readonly config: HttpConfig) {
    this.key = config.callbackSecret ? secretKey(config.callbackSecret) : undefined;
    this.policy = callbackPolicy(config.callbackRetries, config.callbackRetryDelay);
  }

  /** Resolves with undefined on success, or the last error once the policy gave up (or `signal` ended the waiting). */
  async deliver(msgId: string, items: Item[], signal?: AbortSignal): Promise<string | undefined> {
    const body = JSON.stringify({ msg_id: msgId, data: items });
    const id = `${msgId}.${items[0]?.item_id ?? 'empty'}`;
    try {
      await retry(() => this.post(id, body, signal), { policy: this.policy, signal });
      return undefined;
    } catch (error) {
      return errorMessage(error);
    }
  }

  /** One try, signed afresh (the timestamp must be recent), under the same id. */
  private async post(id: string, body: string, signal: AbortSignal | undefined): Promise<void> {
    const headers = this.key ? signatureHeaders(this.key, id, body) : {};
    let response;
    try {
      response = await postJson(this.config.callbackUrl!, body, headers, this.config.callbackTimeout, 64 * 1024, signal);
    } catch (error) {
      throw new PlatformError(errorMessage(error), exchangeFailure(error));
    }
    if (response.status >= 200 && response.status < 300) return;
    throw new PlatformError(`HTTP ${response.status}`, statusFailure(response.status, response.retryAfter));
  }
}

/** 429: wait as asked; 408 and 5xx: try again; any other status (401 included: there is no token to renew) is final. */
function statusFailure(status: number, retryAfter: string | undefined): Failure {
  return status === 401 ? fatal : classifyStatus(status, retryAfter);
}
