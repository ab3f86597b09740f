export function TeamsPage() {
  return <section className="page"><h1>TeamsPage</h1></section>;
}
