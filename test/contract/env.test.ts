import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cloudWatchNamespace, languageList, problemsOf } from '../../contract/env';

describe('languageList', () => {
  // As a loader uses it: one property of an object schema, so problem lines are named by the variable.
  const schema = z.object({ SUPPORTED_LANGUAGES: languageList('SUPPORTED_LANGUAGES') });
  const parse = {
    parse: (v: string) => schema.parse({ SUPPORTED_LANGUAGES: v }).SUPPORTED_LANGUAGES,
    safeParse: (v: string) => schema.safeParse({ SUPPORTED_LANGUAGES: v }),
  };

  it('accepts every shape of tag Amazon Transcribe streaming takes, and other BCP-47 tags', () => {
    for (const tag of ['en-US', 'zh-CN', 'en-AB', 'fr-CA', 'es-US', 'en-WL', 'es-419', 'zh-Hans-CN', 'en', 'fil-PH']) {
      expect(parse.parse(tag)).toEqual([tag]);
    }
  });

  it('splits on commas, trimming entries and dropping blanks', () => {
    expect(parse.parse(' en-US, fr-CA ,,')).toEqual(['en-US', 'fr-CA']);
  });

  it('rejects names, other separators and malformed subtags with one clear message', () => {
    for (const value of ['english', 'en_US', 'e-US', 'en-U', 'en-US-', 'en US', 'en-toolongtag', '1n-US']) {
      const result = parse.safeParse(value);
      expect(result.success, value).toBe(false);
      if (!result.success) {
        expect(problemsOf(result.error)).toEqual([
          'SUPPORTED_LANGUAGES must be comma-separated BCP-47 tags, e.g. en-US,es-US',
        ]);
      }
    }
  });

  it('rejects an empty list', () => {
    const result = parse.safeParse(' , ');
    expect(result.success).toBe(false);
    if (!result.success) {
      expect(problemsOf(result.error)).toEqual([
        'SUPPORTED_LANGUAGES must list at least one language, e.g. en-US,es-US',
      ]);
    }
  });
});

describe('cloudWatchNamespace', () => {
  const schema = z.object({ METRICS_NAMESPACE: cloudWatchNamespace('METRICS_NAMESPACE') });
  const parse = {
    parse: (v: string) => schema.parse({ METRICS_NAMESPACE: v }).METRICS_NAMESPACE,
    safeParse: (v: string) => schema.safeParse({ METRICS_NAMESPACE: v }),
  };

  it('accepts CloudWatch namespace characters', () => {
    expect(parse.parse('AudiohookTranscribe')).toBe('AudiohookTranscribe');
    expect(parse.parse('Team/App.v2_#1:x-y')).toBe('Team/App.v2_#1:x-y');
  });

  it('rejects other characters and over-long names, naming the variable', () => {
    for (const value of ['has space', 'ünïcode', 'x'.repeat(256), '']) {
      const result = parse.safeParse(value);
      expect(result.success, value).toBe(false);
      if (!result.success)
        expect(problemsOf(result.error)[0]).toMatch(/^METRICS_NAMESPACE must be a CloudWatch namespace/);
    }
  });
});
