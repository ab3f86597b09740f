/**
 * xterm's DOM renderer writes its theme and cell metrics into `<style>` elements, which the
 * console's Content-Security-Policy (`style-src 'self'`, nothing inline) refuses. While
 * `open` runs, xterm gets inert `<template>` elements instead (never rendered, never
 * checked by the policy); their text is mirrored into a constructed stylesheet, which the
 * policy allows, and kept in step as xterm rewrites it.
 */
const MARK = "data-terminal-css";

export function openWithConstructedStyles(doc: Document, host: HTMLElement, open: () => void): () => void {
  const sheet = new CSSStyleSheet();
  doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
  const hadOwn = Object.hasOwn(doc, "createElement");
  const original = doc.createElement;
  doc.createElement = function createElement(
    this: Document,
    tagName: string,
    options?: ElementCreationOptions,
  ) {
    if (tagName.toLowerCase() !== "style") return original.call(this, tagName, options);
    const standIn = original.call(this, "template");
    standIn.setAttribute(MARK, "");
    return standIn;
  } as Document["createElement"];
  try {
    open();
  } finally {
    if (hadOwn) doc.createElement = original;
    else Reflect.deleteProperty(doc, "createElement");
  }
  const sync = () => {
    const text = Array.from(host.querySelectorAll(`template[${MARK}]`), (style) => style.textContent ?? "");
    sheet.replaceSync(text.join("\n"));
  };
  const observer = new MutationObserver(sync);
  observer.observe(host, { subtree: true, childList: true, characterData: true });
  sync();
  return () => {
    observer.disconnect();
    doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((adopted) => adopted !== sheet);
  };
}
