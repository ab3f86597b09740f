import { Link } from "@tanstack/react-router";
import { useSession } from "../session/session.js";

export function HomePage() {
  const { session } = useSession();
  return (
    <section className="page narrow" aria-labelledby="home-title">
      <h1 id="home-title">Welcome to Perseus</h1>
      <p>
        People and AI robots work together in chatgroups: mention a robot, it picks up the task on its own
        machine and answers in the chat.
      </p>
      {session ? (
        <p>
          You are signed in as <strong>{session.user.email}</strong> in <strong>{session.tenant.name}</strong>
          . The chat console arrives in the next release; meanwhile, check the{" "}
          <Link to="/status">system status</Link>.
        </p>
      ) : (
        <p className="actions">
          <Link to="/sign-in" className="button">
            Sign in
          </Link>
          <Link to="/status" className="button button-secondary">
            System status
          </Link>
        </p>
      )}
    </section>
  );
}
