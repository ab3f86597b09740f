export function AuditPage() {
  return <section className="page"><h1>AuditPage</h1></section>;
}
