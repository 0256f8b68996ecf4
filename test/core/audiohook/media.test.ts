import { describe, expect, it } from 'vitest';
import { isAcceptableMedia, selectMedia } from '../../../core/audiohook/media';
import type { MediaParameter } from '../../../core/audiohook/messages';

const m = (format: 'PCMU' | 'L16', ...channels: Array<'external' | 'internal'>): MediaParameter => ({
  type: 'audio',
  format,
  channels,
  rate: 8000,
});

describe('media selection', () => {
  it('takes the typical Genesys offer’s stereo PCMU entry', () => {
    expect(selectMedia([m('PCMU', 'external', 'internal'), m('PCMU', 'external'), m('PCMU', 'internal')])).toEqual(
      m('PCMU', 'external', 'internal'),
    );
  });

  it.each([
    [
      'PCMU stereo over L16 stereo',
      [m('L16', 'external', 'internal'), m('PCMU', 'internal', 'external')],
      m('PCMU', 'internal', 'external'),
    ],
    [
      'L16 stereo over PCMU mono',
      [m('PCMU', 'external'), m('L16', 'external', 'internal')],
      m('L16', 'external', 'internal'),
    ],
    ['PCMU mono over L16 mono', [m('L16', 'external'), m('PCMU', 'internal')], m('PCMU', 'internal')],
    ['L16 mono when that is all', [m('L16', 'internal')], m('L16', 'internal')],
    ['the client’s order among equals', [m('PCMU', 'internal'), m('PCMU', 'external')], m('PCMU', 'internal')],
  ])('prefers %s', (_name, offers, expected) => {
    expect(selectMedia(offers)).toEqual(expected);
  });

  it('returns the entry verbatim (channel order kept) as a fresh copy without extra fields', () => {
    const offer = { ...m('PCMU', 'internal', 'external'), extra: 'x' } as MediaParameter;
    const chosen = selectMedia([offer]);
    expect(chosen).toEqual(m('PCMU', 'internal', 'external'));
    expect(chosen).not.toBe(offer);
    expect(Object.keys(chosen ?? {})).toEqual(['type', 'format', 'channels', 'rate']);
  });

  it.each([
    ['a 16 kHz rate', { ...m('PCMU', 'external'), rate: 16000 }],
    ['an unknown format', { ...m('PCMU', 'external'), format: 'opus' }],
    ['a non-audio type', { ...m('PCMU', 'external'), type: 'video' }],
    ['no channels', m('PCMU')],
    ['three channels', m('PCMU', 'external', 'internal', 'external')],
    ['the same channel twice', m('PCMU', 'external', 'external')],
    ['an unknown channel', { ...m('PCMU'), channels: ['mixed'] }],
  ])('skips %s', (_name, bad) => {
    expect(isAcceptableMedia(bad as MediaParameter)).toBe(false);
    expect(selectMedia([bad as MediaParameter])).toBeUndefined();
    expect(selectMedia([bad as MediaParameter, m('L16', 'internal')])).toEqual(m('L16', 'internal'));
  });

  it('returns undefined for an empty offer', () => {
    expect(selectMedia([])).toBeUndefined();
  });
});
