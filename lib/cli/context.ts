/** What commands get from outside: the clock, the user name and the environment's settings (injected, never read in logic). */
export interface CliContext {
  /** Unix seconds. */
  now(): number;
  user: string | null;
  /** How long a database writer waits for another program's lock (AUTOPIPE_DB_TIMEOUT). */
  dbBusyTimeoutMs: number;
}
