// undici, required with the first outbound request of the core (a callback, a media download, a
// file fetch) or by the adapter that sends with it: a start that makes none, as the sandbox alone,
// does not pay for loading it. Required, not imported, so that a compiled start runs its bundle
// (runtime/require-commonjs.ts); every module takes its values from here.

import type * as Undici from 'undici';
import { requireCommonJs } from '../runtime/require-commonjs.js';

let loaded: typeof Undici | undefined;

export const undici = (): typeof Undici => (loaded ??= requireCommonJs<typeof Undici>('undici'));
