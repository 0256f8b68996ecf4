/**
 * Local services listen on loopback only: which hosts count as loopback, and the configuration that
 * refuses any other (LOCAL_HOST for `npm start`).
 */
import { type AddressInfo, createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { loadLocalConfig } from '../../local/config';
import { isLoopbackHost, requireLoopbackHost, urlHost } from '../../local/loopback';
import { isLoopbackAddress, listeningAddresses } from './listeners';

describe('isLoopbackHost', () => {
  it('accepts 127.0.0.0/8, ::1 in any spelling and localhost', () => {
    for (const host of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', 'localhost', 'LOCALHOST']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
  });

  it('refuses every other interface, wildcard and name', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', '128.0.0.1', '::ffff:10.0.0.1', 'example.com']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
    for (const host of ['', '127.0.0.1.', '127.0.0.256', '[::1]', 'localhost.evil.test', '127.1']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('names the setting and the accepted values in its error', () => {
    expect(() => requireLoopbackHost('SOME_HOST', '0.0.0.0')).toThrow(
      'SOME_HOST must be a loopback address (127.0.0.0/8, ::1 or localhost) so local services are not reachable from other machines, got "0.0.0.0"',
    );
    expect(requireLoopbackHost('SOME_HOST', '127.0.0.3')).toBe('127.0.0.3');
  });

  it('brackets IPv6 hosts in URLs only', () => {
    expect([urlHost('::1'), urlHost('127.0.0.1'), urlHost('localhost')]).toEqual(['[::1]', '127.0.0.1', 'localhost']);
  });
});

describe('LOCAL_HOST (local/config.ts)', () => {
  it('refuses a host that is not loopback, naming the variable', () => {
    for (const host of ['0.0.0.0', '::', '192.168.0.10', 'my-laptop.lan']) {
      expect(() => loadLocalConfig({ LOCAL_HOST: host }, '/repo'), host).toThrow(/^LOCAL_HOST must be a loopback/);
    }
  });

  it('accepts loopback hosts and defaults to 127.0.0.1', () => {
    expect(loadLocalConfig({}, '/repo').host).toBe('127.0.0.1');
    expect(loadLocalConfig({ LOCAL_HOST: '127.0.0.2' }, '/repo').host).toBe('127.0.0.2');
    expect(loadLocalConfig({ LOCAL_HOST: 'localhost' }, '/repo').host).toBe('localhost');
  });
});

describe('listeningAddresses (test helper)', () => {
  it('reads the kernel table: loopback and wildcard listeners are told apart', async () => {
    const listen = (host: string) =>
      new Promise<Server>((ok) => {
        const s = createServer();
        s.listen(0, host, () => ok(s));
      });
    const local = await listen('127.0.0.1');
    const wide = await listen('0.0.0.0');
    try {
      const port = (s: Server) => (s.address() as AddressInfo).port;
      expect(listeningAddresses(port(local))).toEqual(['127.0.0.1']);
      expect(listeningAddresses(port(wide))).toEqual(['0.0.0.0']);
      expect(listeningAddresses(port(local)).every(isLoopbackAddress)).toBe(true);
      expect(listeningAddresses(port(wide)).every(isLoopbackAddress)).toBe(false);
      expect(['::ffff:7f00:1', '::1'].every(isLoopbackAddress)).toBe(true);
      expect(['::', '::ffff:a00:1'].some(isLoopbackAddress)).toBe(false);
    } finally {
      await Promise.all([local, wide].map((s) => new Promise((ok) => s.close(ok))));
    }
  });
});
