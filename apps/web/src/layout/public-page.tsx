import type { ReactNode } from "react";

/** The frame of a page outside the signed-in console (sign in, sign up, invites). */
export function PublicPage({
  title,
  titleId,
  children,
}: {
  title: string;
  titleId: string;
  children: ReactNode;
}) {
  return (
    <main id="main" tabIndex={-1} className="public-main">
      <section className="page narrow" aria-labelledby={titleId}>
        <h1 id={titleId}>{title}</h1>
        {children}
      </section>
    </main>
  );
}
