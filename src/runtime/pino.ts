// pino, required rather than imported, so that a compiled start runs its bundle
// (require-commonjs.ts); every module takes it from here.

import type * as Pino from 'pino';
import { requireCommonJs } from './require-commonjs.js';

export type { DestinationStream, Logger } from 'pino';

export const { pino } = requireCommonJs<typeof Pino>('pino');
