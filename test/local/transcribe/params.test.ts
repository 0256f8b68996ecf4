import { describe, expect, it } from 'vitest';
import { parseStreamParams } from '../../../local/transcribe/params';

const base = {
  'x-amzn-transcribe-language-code': 'en-US',
  'x-amzn-transcribe-sample-rate': '8000',
  'x-amzn-transcribe-media-encoding': 'pcm',
};

describe('parseStreamParams', () => {
  it('accepts a mono PCM stream and echoes every x-amzn-transcribe-* header', () => {
    const r = parseStreamParams({ ...base, 'x-amzn-transcribe-vocabulary-name': 'v', authorization: 'AWS4…' });
    expect(r).toMatchObject({
      ok: true,
      params: { languageCode: 'en-US', sampleRateHz: 8000, channels: 1, channelIdentification: false },
    });
    if (r.ok) expect(r.params.echo).toEqual({ ...base, 'x-amzn-transcribe-vocabulary-name': 'v' });
  });

  it.each(['es-US', 'de-DE', 'fr-CA'])('accepts %s: any well-formed language code, kept as asked', (code) => {
    const r = parseStreamParams({ ...base, 'x-amzn-transcribe-language-code': code });
    expect(r).toMatchObject({ ok: true, params: { languageCode: code } });
  });

  it('accepts two channels with channel identification', () => {
    const r = parseStreamParams({
      ...base,
      'x-amzn-transcribe-enable-channel-identification': 'true',
      'x-amzn-transcribe-number-of-channels': '2',
    });
    expect(r).toMatchObject({ ok: true, params: { channels: 2, channelIdentification: true } });
  });

  it('reads PII settings and entity types', () => {
    const r = parseStreamParams({
      ...base,
      'x-amzn-transcribe-content-redaction-type': 'PII',
      'x-amzn-transcribe-pii-entity-types': 'PIN,PHONE',
    });
    expect(r).toMatchObject({ ok: true, params: { contentRedaction: true, piiEntityTypes: ['PIN', 'PHONE'] } });
    const all = parseStreamParams({
      ...base,
      'x-amzn-transcribe-content-identification-type': 'PII',
      'x-amzn-transcribe-pii-entity-types': 'ALL',
    });
    expect(all.ok && all.params.piiEntityTypes).toBeUndefined();
  });

  it.each([
    ['a sample rate below 8000', { 'x-amzn-transcribe-sample-rate': '4000' }, /between 8000 and 48000/],
    ['a sample rate above 48000', { 'x-amzn-transcribe-sample-rate': '96000' }, /between 8000 and 48000/],
    ['a missing sample rate', { 'x-amzn-transcribe-sample-rate': undefined }, /mediaSampleRateHertz/],
    [
      'an unknown media encoding',
      { 'x-amzn-transcribe-media-encoding': 'mp3' },
      /enum value set: \[pcm, ogg-opus, flac\]/,
    ],
    [
      'a media encoding the local endpoint cannot decode',
      { 'x-amzn-transcribe-media-encoding': 'flac' },
      /only decodes pcm/,
    ],
    ['a missing language code', { 'x-amzn-transcribe-language-code': undefined }, /LanguageCode/],
    [
      'a malformed language code',
      { 'x-amzn-transcribe-language-code': 'es_us' },
      /^1 validation error detected: Value 'es_us' at 'languageCode' failed to satisfy constraint\.$/,
    ],
    [
      'language identification',
      { 'x-amzn-transcribe-identify-language': 'true' },
      /Language identification is not supported by the local Transcribe endpoint/,
    ],
    [
      'multiple-language identification',
      { 'x-amzn-transcribe-identify-multiple-languages': 'true' },
      /Language identification is not supported by the local Transcribe endpoint/,
    ],
    [
      'channel identification without 2 channels',
      { 'x-amzn-transcribe-enable-channel-identification': 'true' },
      /NumberOfChannels as 2/,
    ],
    [
      'channels without channel identification',
      { 'x-amzn-transcribe-number-of-channels': '2' },
      /channel identification/,
    ],
    [
      'identification together with redaction',
      { 'x-amzn-transcribe-content-identification-type': 'PII', 'x-amzn-transcribe-content-redaction-type': 'PII' },
      /ContentRedactionType and ContentIdentificationType/,
    ],
    ['PII entity types without PII settings', { 'x-amzn-transcribe-pii-entity-types': 'PIN' }, /requires/],
    [
      'an unknown PII entity type',
      { 'x-amzn-transcribe-content-redaction-type': 'PII', 'x-amzn-transcribe-pii-entity-types': 'PIN,SHOE_SIZE' },
      /SHOE_SIZE/,
    ],
    ['a malformed session id', { 'x-amzn-transcribe-session-id': 'abc' }, /sessionId/],
    ['stability without stabilization', { 'x-amzn-transcribe-partial-results-stability': 'high' }, /Stabilization/],
  ])('rejects %s', (_what, override, message) => {
    const r = parseStreamParams({ ...base, ...override });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });
});
