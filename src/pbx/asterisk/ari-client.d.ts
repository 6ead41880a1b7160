/**
 * The slice of `ari-client` (no bundled types) this adapter uses: connect() loads Asterisk's
 * swagger and attaches one promise-returning function per operation, grouped by resource.
 */
declare module 'ari-client' {
  export type AriOperation = (params?: Record<string, unknown>) => Promise<unknown>;
  export interface AriClient {
    readonly [resource: string]: unknown;
    readonly channels: Readonly<Record<string, AriOperation>>;
    readonly bridges: Readonly<Record<string, AriOperation>>;
    readonly asterisk: Readonly<Record<string, AriOperation>>;
  }
  export function connect(url: string, user: string, pass: string): Promise<AriClient>;
  const _default: { connect: typeof connect };
  export default _default;
}
