export function PeoplePage() {
  return <section className="page"><h1>PeoplePage</h1></section>;
}
