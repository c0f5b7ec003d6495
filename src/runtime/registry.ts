// Every platform's adapter definition (config schema and lazily loaded adapter), for code that
// takes any config: the testing kit, the tests. The CLI loads only the platforms a config names
// (platforms.ts).

import type { AdapterDefinition } from '../adapter.js';
import { definitionsFor } from './platforms.js';

export const definitions: readonly AdapterDefinition[] = await definitionsFor();
