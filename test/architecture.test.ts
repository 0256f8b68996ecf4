/**
 * The rules of the house (docs/architecture.md §2) as a test: it reads the import statements of every
 * source file and fails on an import that crosses a boundary the map forbids, naming the file and the
 * specifier. Text only (no compiler): `import … from`, `export … from`, `import '…'` and `import('…')`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

/** Our top-level parts; a relative import is named by the part it lands in. */
const PARTS = [
  'bin',
  'lib',
  'contract',
  'core',
  'store',
  'fargate',
  'lambdas',
  'local',
  'web',
  'test',
  'bench',
  'scripts',
];
type Part = (typeof PARTS)[number];

/** What a part may import: our parts by name, packages by exact name or `name/` prefix. */
interface Rule {
  readonly parts: readonly Part[];
  /** @default - any package */
  readonly packages?: readonly string[];
  /** Why, shown with a violation. */
  readonly why: string;
}

const NODE = 'node:';
const CDK = ['aws-cdk-lib', 'aws-cdk-lib/', 'constructs', 'cdk-nag', NODE];

const RULES: Partial<Record<Part, Rule>> = {
  contract: {
    parts: ['contract'],
    packages: ['zod', NODE],
    why: 'contract/ is plain data both deploy time and run time read: it imports nothing of ours',
  },
  core: {
    parts: ['core'],
    packages: [NODE],
    why: 'core/ is the pure domain: no SDK, no I/O library, nothing outside core/',
  },
  lib: {
    parts: ['lib', 'contract'],
    packages: CDK,
    why: 'lib/ learns names from contract/ and refers to runtime code only by entry path (for bundling)',
  },
  bin: {
    parts: ['bin', 'lib', 'contract', 'core'],
    packages: CDK,
    why: 'bin/ reads the CLI context and builds the stack; it never loads runtime code',
  },
  store: {
    parts: ['store', 'core', 'contract'],
    why: 'store/ is the repositories shared by the gateway and the Lambdas',
  },
  fargate: {
    parts: ['fargate', 'core', 'store', 'contract'],
    why: 'the gateway and the Lambdas never import each other; shared code lives in core/, store/ or contract/',
  },
  lambdas: {
    parts: ['lambdas', 'core', 'store', 'contract'],
    why: 'the gateway and the Lambdas never import each other; shared code lives in core/, store/ or contract/',
  },
};

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|mjs|js)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"\n]+)\1/gm;

/** Every module specifier a file imports or re-exports. */
function importsOf(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((m) => m[2] as string);
}

function partOf(absolute: string): Part | undefined {
  const top = relative(ROOT, absolute).split(/[\\/]/)[0];
  return PARTS.find((p) => p === top);
}

function allowedPackage(specifier: string, packages: readonly string[] | undefined): boolean {
  if (packages === undefined) return true;
  return packages.some((p) => (p.endsWith('/') || p.endsWith(':') ? specifier.startsWith(p) : specifier === p));
}

interface Violation {
  readonly file: string;
  readonly specifier: string;
  readonly why: string;
}

/** The imports of one file (`file` relative to the root) that its part's rule forbids. */
function violationsIn(file: string, text: string, rule: Rule): Violation[] {
  const found: Violation[] = [];
  for (const specifier of importsOf(text)) {
    const allowed = specifier.startsWith('.')
      ? rule.parts.some((p) => p === partOf(resolve(ROOT, dirname(file), specifier)))
      : allowedPackage(specifier, rule.packages);
    if (!allowed) found.push({ file, specifier, why: rule.why });
  }
  return found;
}

function violations(part: Part, rule: Rule): Violation[] {
  return sourceFiles(join(ROOT, part))
    .map((path) => relative(ROOT, path))
    .filter((file) => !file.endsWith('.test.ts'))
    .flatMap((file) => violationsIn(file, readFileSync(join(ROOT, file), 'utf8'), rule));
}

describe('architecture (docs/architecture.md §2)', () => {
  describe('import scanner', () => {
    it('finds static, type-only, side-effect, re-export and dynamic imports', () => {
      const text = [
        "import { a } from './a';",
        "import type { B } from '../b';",
        "import './c';",
        "export { d } from './d';",
        'const e = await import("./e");',
        'import {\n  f,\n} from "zod";',
      ].join('\n');
      expect(importsOf(text)).toEqual(['./a', '../b', './c', './d', './e', 'zod']);
    });

    it('reports an import that leaves the allowed parts, or a package not on the list', () => {
      const text = [
        "import { ROUTES } from '../contract/routes';",
        "import { loadConfig } from '../lambdas/shared/config';",
        "import { Stack } from 'aws-cdk-lib';",
        "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';",
      ].join('\n');
      const rule = RULES.lib as Rule;
      expect(violationsIn('lib/x.ts', text, rule).map((v) => v.specifier)).toEqual([
        '../lambdas/shared/config',
        '@aws-sdk/client-dynamodb',
      ]);
    });
  });

  describe.each(Object.entries(RULES) as [Part, Rule][])('%s/', (part, rule) => {
    it(`imports only ${rule.parts.join(', ')}${rule.packages ? ` and ${rule.packages.join(', ')}` : ''}`, () => {
      expect(violations(part, rule)).toEqual([]);
    });
  });

  it('keeps production code away from local/ and test/', () => {
    const production: Part[] = ['bin', 'lib', 'contract', 'core', 'store', 'fargate', 'lambdas'];
    const found = production.flatMap((part) =>
      violations(part, {
        parts: PARTS.filter((p) => p !== 'local' && p !== 'test' && p !== 'bench'),
        why: 'local/, test/ and bench/ wire and exercise production code, never the reverse',
      }),
    );
    expect(found).toEqual([]);
  });
});
