/** Messages for people go to stderr through one winston logger; results go to stdout. */
import winston from 'winston';

export const logger = winston.createLogger({
  level: 'info',
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'verbose', 'debug'] })],
  format: winston.format.printf(({ level, message }) => (level === 'info' ? String(message) : `${level}: ${String(message)}`)),
});

export function setVerbose(on: boolean): void {
  logger.level = on ? 'debug' : 'info';
}
