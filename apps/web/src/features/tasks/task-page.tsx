export function TaskPage() {
  return <section className="page"><h1>TaskPage</h1></section>;
}
