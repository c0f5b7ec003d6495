// tls-sig-api-v2 ships one CommonJS file and no types; this is the part the adapter uses.
declare module 'tls-sig-api-v2' {
  class Api {
    constructor(sdkappid: number, key: string);
    /** A UserSig for `userid`, valid for `expire` seconds from now. */
    genUserSig(userid: string, expire: number): string;
  }
  const tlsSigApi: { Api: typeof Api };
  export default tlsSigApi;
}
