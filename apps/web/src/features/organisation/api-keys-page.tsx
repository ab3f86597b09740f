export function ApiKeysPage() {
  return <section className="page"><h1>ApiKeysPage</h1></section>;
}
