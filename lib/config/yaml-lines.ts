/**
 * Parse YAML and remember the line of every mapping key and sequence item, so that a problem
 * at `dft.parameters.ecutwfc` can say `(line 14)`. Uses js-yaml's `listener` hook, which
 * reports each node as it opens and closes.
 */
import yaml from 'js-yaml';

/** Path segments joined with '.', e.g. `dft.parameters.ecutwfc` or `explore.temperatures.1`. */
export type LineMap = ReadonlyMap<string, number>;

interface Node { line: number; children: Node[]; kind?: string; result?: unknown }

interface ListenerState { line: number; position: number; lineStart: number; kind: string; result: unknown; input: string }

export function parseYamlWithLines(text: string, filename?: string): { value: unknown; lines: LineMap } {
  const root: Node = { line: 0, children: [] };
  const stack: Node[] = [root];
  const value = yaml.load(text, {
    filename,
    listener(this: unknown, event: string, state: ListenerState) {
      if (event === 'open') {
        // js-yaml opens a node before skipping leading blanks: find the line of its first character.
        let p = state.position;
        let line = state.line;
        while (p < state.input.length && /[ \t\r\n]/.test(state.input[p])) {
          if (state.input[p] === '\n') line++;
          p++;
        }
        const node: Node = { line: line + 1, children: [] };
        stack[stack.length - 1].children.push(node);
        stack.push(node);
      } else {
        const node = stack.pop() as Node;
        node.kind = state.kind;
        node.result = state.result;
      }
    },
  } as yaml.LoadOptions);
  const lines = new Map<string, number>();
  const doc = root.children[0];
  if (doc !== undefined) collect(doc, '', lines);
  return { value, lines };
}

function collect(node: Node, path: string, out: Map<string, number>): void {
  if (node.kind === 'mapping') {
    // children alternate key, value
    for (let i = 0; i + 1 < node.children.length; i += 2) {
      const key = String(node.children[i].result);
      const p = path === '' ? key : `${path}.${key}`;
      out.set(p, node.children[i].line);
      collect(node.children[i + 1], p, out);
    }
  } else if (node.kind === 'sequence') {
    node.children.forEach((child, i) => {
      const p = path === '' ? String(i) : `${path}.${i}`;
      out.set(p, child.line);
      collect(child, p, out);
    });
  }
}

/** Line of a path, or of its nearest ancestor that has one. */
export function lineOf(lines: LineMap, path: string): number | undefined {
  let p = path;
  for (;;) {
    const l = lines.get(p);
    if (l !== undefined) return l;
    const dot = p.lastIndexOf('.');
    if (dot < 0) return undefined;
    p = p.slice(0, dot);
  }
}
