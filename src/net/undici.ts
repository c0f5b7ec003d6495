// undici, imported with the first outbound request of the core (a callback, a media download, a
// file fetch): a start that makes none, as the sandbox alone, does not pay for loading it.

type Undici = typeof import('undici');

let loaded: Promise<Undici> | undefined;

export const undici = (): Promise<Undici> => (loaded ??= import('undici'));
