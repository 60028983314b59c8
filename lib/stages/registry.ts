/** Every kind of stage this autopipe has; the CLI hands it to the loop (which imports no kind). */
import type { Registry } from './kind.js';
import { labelKind } from './label/index.js';
import { trainKind } from './train/index.js';
import { exploreKind } from './explore/index.js';

export const REGISTRY: Registry = new Map([
  [labelKind.kind, labelKind],
  [trainKind.kind, trainKind],
  [exploreKind.kind, exploreKind],
]);
