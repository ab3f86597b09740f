export function RobotPage() {
  return <section className="page"><h1>RobotPage</h1></section>;
}
