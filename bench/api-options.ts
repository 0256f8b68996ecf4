/**
 * The API benchmark's command line: `npm run bench -- api [options]`, parsed and checked into `Options`.
 */
import { parseArgs } from 'node:util';

export interface Options {
  concurrency: number[];
  requests: number;
  reads: number;
  cycles: number;
  beforeAudio: number;
  holdMs: number;
  utterances: number;
  json: boolean;
}

const USAGE =
  'usage: npm run bench -- api [--concurrency 1,8] [--requests 200] [--reads 40] [--cycles 24] ' +
  '[--before-audio 100] [--hold-ms 500] [--utterances 1200] [--json]';

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      concurrency: { type: 'string', default: '1,8' },
      requests: { type: 'string', default: '200' },
      reads: { type: 'string', default: '40' },
      cycles: { type: 'string', default: '24' },
      'before-audio': { type: 'string', default: '100' },
      'hold-ms': { type: 'string', default: '500' },
      utterances: { type: 'string', default: '1200' },
      json: { type: 'boolean', default: false },
    },
  });
  const whole = (s: string, min: number) => {
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min) throw new Error(USAGE);
    return n;
  };
  return {
    concurrency: values.concurrency.split(',').map((c) => whole(c, 1)),
    requests: whole(values.requests, 1),
    reads: whole(values.reads, 1),
    cycles: whole(values.cycles, 1),
    beforeAudio: whole(values['before-audio'], 1),
    holdMs: whole(values['hold-ms'], 0),
    utterances: whole(values.utterances, 1),
    json: values.json,
  };
}
