import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// `import ... from 'switchboard'` in the repository's own bots and tests means its sources, as
// bin/switchboard.js makes it for the CLI; never a dist/ left by a build.
const conditions = ['switchboard-source', ...defaultServerConditions];

export default defineConfig({
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Tests start real servers on 127.0.0.1; none may reach a proxy.
    env: { NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
  },
});
