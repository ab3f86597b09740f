export function InvitesPage() {
  return <section className="page"><h1>InvitesPage</h1></section>;
}
