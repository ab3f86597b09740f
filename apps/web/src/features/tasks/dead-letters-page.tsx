export function DeadLettersPage() {
  return <section className="page"><h1>DeadLettersPage</h1></section>;
}
