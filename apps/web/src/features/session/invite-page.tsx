export function InvitePage() {
  return <section className="page"><h1>InvitePage</h1></section>;
}
