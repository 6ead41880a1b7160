#!/usr/bin/env node
// The daemon runs its TypeScript sources through tsx's loader: no build step to forget on a dialer box,
// and stack traces point at the real files.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
