/** Messages for people go to stderr through one winston logger; results go to stdout. */
import winston from 'winston';

/** Called before each message is written (a progress line on the terminal takes itself off). */
let beforeMessage: (() => void) | undefined;

export function onEachMessage(fn: (() => void) | undefined): void {
  beforeMessage = fn;
}

export const logger = winston.createLogger({
  level: 'info',
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'verbose', 'debug'] })],
  format: winston.format.printf(({ level, message }) => {
    beforeMessage?.();
    return level === 'info' ? String(message) : `${level}: ${String(message)}`;
  }),
});

export function setVerbose(on: boolean): void {
  logger.level = on ? 'debug' : 'info';
}
