/**
 * The gateway image's build rules, checked on the Dockerfile itself (no Docker daemon here, so the image is
 * never built in this suite): Node 24 pinned by digest, a build stage on the builder's platform, a runtime
 * stage with no RUN (so an arm64 image builds on x86 without emulation), and the spool volume declared
 * and owned by the non-root user the gateway runs as.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build as esbuild } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const text = readFileSync(join(ROOT, 'fargate', 'Dockerfile'), 'utf8');

interface Stage {
  from: string;
  instructions: { op: string; args: string }[];
}

/** Logical lines (continuations joined, comments dropped) split into stages at each FROM. */
function parse(dockerfile: string): { globalArgs: Map<string, string>; stages: Stage[] } {
  const lines = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op.toUpperCase() === 'FROM') stages.push({ from: args, instructions: [] });
    else if (stages.length === 0 && op.toUpperCase() === 'ARG') {
      const [name = '', value = ''] = args.split('=');
      globalArgs.set(name, value);
    } else stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
  }
  return { globalArgs, stages };
}

const { globalArgs, stages } = parse(text);
const [build, runtime] = stages;

describe('fargate/Dockerfile', () => {
  it('has exactly a build and a runtime stage', () => {
    expect(stages).toHaveLength(2);
  });

  it('uses Node.js 24 slim from ECR Public, pinned by a sha256 digest', () => {
    const image = globalArgs.get('NODE_IMAGE') ?? '';
    expect(image).toMatch(/^public\.ecr\.aws\/docker\/library\/node:24-slim@sha256:[0-9a-f]{64}$/);
    expect(build?.from).toMatch(/ \$\{NODE_IMAGE\} AS build$/);
    expect(runtime?.from).toMatch(/^\$\{NODE_IMAGE\}$/);
  });

  it('builds on the builder platform and bundles for Node 24', () => {
    expect(build?.from).toMatch(/^--platform=\$BUILDPLATFORM /);
    const bundle = build?.instructions.find((i) => i.op === 'RUN' && i.args.includes('esbuild'));
    expect(bundle?.args).toContain('--target=node24');
  });

  it('runs nothing in the runtime stage (cross-architecture builds need no emulation)', () => {
    expect(runtime?.instructions.filter((i) => i.op === 'RUN')).toEqual([]);
  });

  it('copies every project folder the gateway bundle reads, and .dockerignore lets each through', async () => {
    // What the build stage's esbuild will read: the entry's transitive imports, outside node_modules.
    const result = await esbuild({
      entryPoints: [join(ROOT, 'fargate', 'src', 'main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      absWorkingDir: ROOT,
    });
    const folders = new Set(
      Object.keys(result.metafile.inputs)
        .filter((path) => !path.startsWith('node_modules/'))
        .map((path) => path.split('/')[0]),
    );
    expect(folders).toContain('fargate');
    const copied = new Set(
      (build?.instructions ?? [])
        .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
        .map((i) => i.args.split(/\s+/)[0]),
    );
    const allowed = new Set(
      readFileSync(join(ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('!'))
        .map((l) => l.slice(1).replace(/\/$/, '')),
    );
    for (const folder of folders) {
      expect(copied, `fargate/Dockerfile must COPY ${folder}/`).toContain(folder);
      expect(allowed, `.dockerignore must allow ${folder}/`).toContain(folder);
    }
  });

  it('declares the spool volume, owned by the non-root user it runs as', () => {
    const ops = runtime?.instructions ?? [];
    const spoolCopy = ops.find((i) => i.op === 'COPY' && i.args.endsWith('/app/.local/'));
    // The official node images create `node` as uid/gid 1000.
    expect(spoolCopy?.args).toContain('--chown=1000:1000');
    expect(ops.find((i) => i.op === 'VOLUME')?.args).toBe('["/app/.local"]');
    expect(ops.find((i) => i.op === 'USER')?.args).toBe('node');
    const volumeAt = ops.findIndex((i) => i.op === 'VOLUME');
    const copyAt = ops.indexOf(spoolCopy as (typeof ops)[number]);
    // Content written to a volume path after VOLUME is discarded: the directory must exist first.
    expect(copyAt).toBeGreaterThanOrEqual(0);
    expect(copyAt).toBeLessThan(volumeAt);
  });
});
