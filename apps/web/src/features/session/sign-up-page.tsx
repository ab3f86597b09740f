export function SignUpPage() {
  return <section className="page"><h1>SignUpPage</h1></section>;
}
