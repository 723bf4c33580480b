#!/usr/bin/env node
// The package's bin: everything happens in main (the one place that touches `process`).
import { main } from './main.js';

await main();
