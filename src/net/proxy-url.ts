// The `proxy` key of a platform's config, apart from the proxy code (and undici): config schemas
// are loaded for every platform type at start, the proxy only for a platform that uses one.

import { z } from 'zod';

export const proxyUrl = z.url({
  protocol: /^(https?|socks5h?|socks)$/,
  error: 'expected a proxy URL: http://, https:// or socks5:// followed by [user:pass@]host:port',
});
