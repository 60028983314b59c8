/** Every kind of stage this autopipe has; the CLI hands it to the loop (which imports no kind). */
import type { Registry, StageKind } from './kind.js';
import type { StageKindName } from '../state/cursor.js';
import { labelKind } from './label/index.js';
import { trainKind } from './train/index.js';
import { exploreKind } from './explore/index.js';
import { selectKind } from './select/index.js';
import { checkKind } from './check/index.js';

export const REGISTRY: Registry = new Map<StageKindName, StageKind>([
  [labelKind.kind, labelKind],
  [trainKind.kind, trainKind],
  [exploreKind.kind, exploreKind],
  [selectKind.kind, selectKind],
  [checkKind.kind, checkKind],
]);
