import { postJson } from '../../src/callbacks/client.js';
import { secretKey, signatureHeaders } from '../../src/callbacks/signing.js';
import { errorMessage } from '../../src/inbound/supervisor.js';
import type { Item } from './render.js';
import type { HttpConfig } from './schema.js';

/**
 * Callback mode: POSTs `{msg_id, data}` to the client's callbackUrl, signed like the lifecycle
 * callbacks, retrying a failure with doubling waits. The webhook-id is the same on every try,
 * so a receiver that saw a success can drop a late duplicate; after a success nothing is resent.
 */
export class CallbackSender {
  private readonly key: Buffer | undefined;

  constructor(private readonly config: HttpConfig) {
    this.key = config.callbackSecret ? secretKey(config.callbackSecret) : undefined;
  }

  /** Resolves with undefined on success, or the last error after every retry failed. */
  async deliver(msgId: string, items: Item[]): Promise<string | undefined> {
    const body = JSON.stringify({ msg_id: msgId, data: items });
    const id = `${msgId}.${items[0]?.item_id ?? 'empty'}`;
    let lastError = '';
    for (let attempt = 0; attempt <= this.config.callbackRetries; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.config.callbackRetryDelay * 2 ** (attempt - 1)));
      try {
        // Signed afresh on each try (the timestamp must be recent), under the same id.
        const headers = this.key ? signatureHeaders(this.key, id, body) : {};
        const response = await postJson(this.config.callbackUrl!, body, headers, this.config.callbackTimeout, 64 * 1024);
        if (response.status >= 200 && response.status < 300) return undefined;
        lastError = `HTTP ${response.status}`;
      } catch (error) {
        lastError = errorMessage(error);
      }
    }
    return lastError;
  }
}
