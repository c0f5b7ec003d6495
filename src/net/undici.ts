// undici, imported with the first outbound request of the core (a callback, a media download, a
// file fetch): a start that makes none, as the sandbox alone, does not pay for loading it.

const load = () => import('undici');

let loaded: ReturnType<typeof load> | undefined;

export const undici = (): ReturnType<typeof load> => (loaded ??= load());
