// Signals between instances over Redis pub/sub: one subscriber connection per store, subscribed
// to the channels this process watches. Pub/sub keeps nothing for a subscriber that was away, so
// after a reconnect every watcher here is woken once to look at the store again.

import type { Redis } from 'ioredis';
import type { Signals } from '../index.js';
import { LocalSignals } from '../signals.js';

export interface SignalLink {
  redis: Redis;
  prefix: string;
  call<T>(run: () => Promise<T>): Promise<T>;
}

export class RedisSignals implements Signals {
  private readonly local = new LocalSignals();
  /** Topics subscribed (or being subscribed) on the subscriber connection. */
  private readonly subscriptions = new Map<string, Promise<unknown>>();
  private subscriber: Promise<Redis> | undefined;
  private closed = false;

  constructor(private readonly link: SignalLink) {}

  notify(topic: string): Promise<void> {
    return this.link.call(async () => void (await this.link.redis.publish(this.channel(topic), '')));
  }

  async watch(topic: string, listener: () => void): Promise<() => void> {
    const stop = this.local.add(topic, listener);
    const unwatch = () => {
      stop();
      if (!this.local.watched(topic)) this.unsubscribe(topic);
    };
    try {
      await this.link.call(() => this.subscribe(topic));
    } catch (error) {
      unwatch();
      throw error;
    }
    return unwatch;
  }

  close(): void {
    this.closed = true;
    void this.subscriber?.then((s) => s.disconnect(), () => {});
  }

  private channel(topic: string): string {
    return `${this.link.prefix}sig:${topic}`;
  }

  private async subscribe(topic: string): Promise<void> {
    let subscribed = this.subscriptions.get(topic);
    if (!subscribed) {
      subscribed = this.connection().then((s) => s.subscribe(this.channel(topic)));
      this.subscriptions.set(topic, subscribed);
      // A failed subscription is tried afresh by the next watcher.
      subscribed.catch(() => this.subscriptions.get(topic) === subscribed && this.subscriptions.delete(topic));
    }
    await subscribed;
  }

  private unsubscribe(topic: string): void {
    if (!this.subscriptions.delete(topic)) return;
    void this.subscriber?.then((s) => s.unsubscribe(this.channel(topic))).catch(() => {});
  }

  private connection(): Promise<Redis> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    this.subscriber ??= this.open();
    return this.subscriber;
  }

  private async open(): Promise<Redis> {
    // Its own connection: one in subscriber mode can run no other command. ioredis subscribes it
    // again to every channel after a reconnect.
    // Named, so an operator can tell it apart in CLIENT LIST; no offline queue, as for the store's
    // own connection: while Redis is away a watch fails at once and its caller does without.
    const subscriber = this.link.redis.duplicate({ lazyConnect: true, connectionName: `${this.link.prefix}signals`.replace(/\s/g, '_') });
    subscriber.on('error', () => {});
    const prefix = this.channel('');
    subscriber.on('message', (channel: string) => {
      if (channel.startsWith(prefix)) this.local.wake(channel.slice(prefix.length));
    });
    let connected = false;
    subscriber.on('ready', () => {
      if (connected) this.local.wakeAll();
      connected = true;
    });
    try {
      await subscriber.connect();
    } catch (error) {
      subscriber.disconnect();
      this.subscriber = undefined;
      throw error;
    }
    return subscriber;
  }
}
