/** What commands get from outside: the clock and the user name (injected, never read in logic). */
export interface CliContext {
  /** Unix seconds. */
  now(): number;
  user: string | null;
}
