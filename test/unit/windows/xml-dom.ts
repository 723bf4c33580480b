/**
 * Reading an answer file back through xmlbuilder2's DOM, for assertions on elements rather than
 * on strings. Each helper throws naming what it did not find.
 */
import { create } from 'xmlbuilder2';

export type El = {
  localName: string;
  namespaceURI: string | null;
  textContent: string | null;
  getAttribute(name: string): string | null;
  nodeType: number;
  childNodes: ArrayLike<El>;
};

export function parse(xml: string): El {
  const doc = create(xml).node as unknown as { documentElement: El };
  return doc.documentElement;
}
// childNodes, not children: the DOM's `children` collection lists descendants, not only children.
export const kids = (el: El, name?: string) => Array.from(el.childNodes).filter((c) => c.nodeType === 1 && (name === undefined || c.localName === name));
export const child = (el: El, name: string): El => {
  const found = kids(el, name);
  if (found.length !== 1) throw new Error(`expected one <${name}> in <${el.localName}>, found ${found.length}`);
  return found[0]!;
};
export const path = (el: El, ...names: string[]): El => names.reduce(child, el);
export const text = (el: El, ...names: string[]) => path(el, ...names).textContent;
export const pass = (root: El, name: string) => {
  const found = kids(root, 'settings').filter((s) => s.getAttribute('pass') === name);
  if (found.length !== 1) throw new Error(`settings pass=${name}: ${found.length}`);
  return found[0]!;
};
export const comp = (settings: El, name: string) => {
  const found = kids(settings, 'component').filter((c) => c.getAttribute('name') === name);
  if (found.length !== 1) throw new Error(`component ${name}: ${found.length}`);
  return found[0]!;
};
export const commandsOf = (list: El, item: string, field: string) => kids(list, item).map((c) => text(c, field));
