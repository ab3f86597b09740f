export function RobotsPage() {
  return <section className="page"><h1>RobotsPage</h1></section>;
}
