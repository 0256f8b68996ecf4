/** Loads the hand-made Transcribe event sequences under test/fixtures/transcribe. */
import { readFileSync } from 'node:fs';
import type { RecognizerResult } from '../../../core/transcript/recognizer-result';

interface FixtureFile {
  description: string;
  events: { Transcript?: { Results?: RecognizerResult[] } }[];
}

/** Every result of a fixture, in event order. */
export function fixtureResults(name: string): RecognizerResult[] {
  const url = new URL(`../../fixtures/transcribe/${name}.json`, import.meta.url);
  const file = JSON.parse(readFileSync(url, 'utf8')) as FixtureFile;
  return file.events.flatMap((e) => e.Transcript?.Results ?? []);
}

/** The result with that id and partial flag. */
export function fixtureResult(name: string, resultId: string, partial = false): RecognizerResult {
  const found = fixtureResults(name).find((r) => r.ResultId === resultId && (r.IsPartial ?? false) === partial);
  if (found === undefined) throw new Error(`no ${partial ? 'partial' : 'final'} ${resultId} in ${name}`);
  return found;
}
