/** FreeSWITCH adapter entry point (issue #7). */
export { startFreeswitchAdapter, type FreeswitchAdapter, type FreeswitchAdapterDeps } from './adapter.ts';
export type { FreeswitchCounters, TickerLike } from './transport.ts';
