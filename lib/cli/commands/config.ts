/** `autopipe config check [FILE]`. */
import type { Argv } from 'yargs';
import yaml from 'js-yaml';
import { loadConfigFile } from '../../config/load.js';
import { logger } from '../../log/logger.js';
import { configDocs } from '../../config/docs.js';
import { out } from '../output.js';
import { CONFIG_SCHEMA } from '../../config/validate.js';
import { basename, dirname, resolve } from 'node:path';
import { openProject } from '../../project/project.js';
import { checkBeforeDft } from '../preflight.js';

export function configCommands(y: Argv): Argv {
  return y
    .command('check [file]', 'validate autopipe.yaml; print the resolved configuration (defaults filled in) or every error', (a) => a
      .positional('file', { type: 'string', default: 'autopipe.yaml' })
      .option('json', { type: 'boolean', default: false }),
    (argv) => {
      const { config, warnings } = loadConfigFile(argv.file);
      for (const w of warnings) logger.warn(`${argv.file}: ${w}`);
      // the files it names, checked as submit will before any DFT is spent
      checkBeforeDft(openProject(dirname(resolve(argv.file)), new Set(warnings.map((w) => w)), basename(argv.file)));
      out(argv.json ? JSON.stringify(config, null, 2) + '\n' : yaml.dump(config, { lineWidth: 120 }));
      logger.info(`${argv.file}: valid`);
    })
    .command('docs', 'print the reference of every field (Markdown, as docs/config.md)', (a) => a, () => {
      out(configDocs(CONFIG_SCHEMA));
    })
    .demandCommand(1, 'name a config command: check or docs');
}
