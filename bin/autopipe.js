#!/usr/bin/env node
// The `autopipe` command: runs the compiled CLI (npm ci builds it through `prepare`).
import { main } from '../dist/lib/cli/main.js';

process.exitCode = await main();
