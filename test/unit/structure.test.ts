/**
 * The source tree's shape, checked on every run: no file over 400 lines, no cycle between the
 * folders of src/ (type-only imports count: they are a dependency of the design all the same),
 * and one writer of the lifecycle phase (src/supervisor/). Reads the files; imports nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const MAX_LINES = 400;
/** The module that owns the phase: no other file writes `phase:` into the status. */
const PHASE_OWNER = 'supervisor/';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The folder of a file under src/ ("." for the entry points at the root). */
function folderOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes(sep) ? rel.split(sep)[0]! : '.';
}

const files = sourceFiles(SRC).map((path) => ({ path, rel: relative(SRC, path), text: readFileSync(path, 'utf8') }));

/** Relative module specifiers of static imports, `export … from` and dynamic `import('…')`. */
function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)) found.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)) found.push(m[1]!);
  return found;
}

function folderGraph(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of files) {
    const from = folderOf(file.path);
    for (const spec of importsOf(file.text)) {
      const to = folderOf(resolve(dirname(file.path), spec));
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string[]>();
      graph.set(from, edges);
      edges.set(to, [...(edges.get(to) ?? []), `${file.rel} → ${spec}`]);
    }
  }
  return graph;
}

/** Every elementary cycle found by a depth-first walk, each named by its folders and one import per edge. */
function cycles(graph: Map<string, Map<string, string[]>>): string[] {
  const found = new Set<string>();
  const walk = (start: string, node: string, path: string[]): void => {
    for (const next of graph.get(node)?.keys() ?? []) {
      if (next === start) {
        const ring = [...path, start];
        const why = ring.slice(0, -1).map((f, i) => graph.get(f)!.get(ring[i + 1]!)![0]);
        // Name a cycle from its smallest folder so that each is reported once.
        const min = path.indexOf([...path].sort()[0]!);
        found.add(`${[...path.slice(min), ...path.slice(0, min), path[min]].join(' → ')}  (${why.join('; ')})`);
      } else if (!path.includes(next) && next > start) {
        walk(start, next, [...path, next]);
      }
    }
  };
  for (const start of graph.keys()) walk(start, start, [start]);
  return [...found];
}

describe('source tree', () => {
  it(`has no file over ${MAX_LINES} lines`, () => {
    const long = files.map((f) => ({ file: f.rel, lines: f.text.split('\n').length - (f.text.endsWith('\n') ? 1 : 0) })).filter((f) => f.lines > MAX_LINES);
    expect(long, `files over ${MAX_LINES} lines: ${JSON.stringify(long)}`).toEqual([]);
  });

  it('has no cycle between the folders of src/', () => {
    const graph = folderGraph();
    expect(graph.size, 'the import parser found no imports at all').toBeGreaterThan(5);
    const found = cycles(graph);
    expect(found, `folder cycles:\n${found.join('\n')}`).toEqual([]);
  });

  it(`writes the phase only in src/${PHASE_OWNER}`, () => {
    const writers = files
      .filter((f) => !f.rel.startsWith(PHASE_OWNER))
      .flatMap((f) => f.text.split('\n').map((line, i) => ({ line, at: `${f.rel}:${i + 1}` })))
      .filter(({ line }) => /\bphase:\s*'/.test(line) || /\.update\(\{[^}]*\bphase\b/.test(line))
      .map(({ at, line }) => `${at}: ${line.trim()}`);
    expect(writers, `phase written outside src/${PHASE_OWNER}:\n${writers.join('\n')}`).toEqual([]);
  });
});
