import type { ReactNode } from "react";

/** What a "load more" button needs of a TanStack infinite query (cursor pagination). */
export type MorePages = {
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  fetchNextPage: () => Promise<unknown>;
};

/** Loads the next page of a cursor-paginated list; renders nothing on the last page. */
export function LoadMoreButton({
  pages,
  label,
  className = "button button-secondary",
}: {
  pages: MorePages;
  label: string;
  className?: string;
}) {
  if (!pages.hasNextPage) return null;
  return (
    <button
      type="button"
      className={className}
      disabled={pages.isFetchingNextPage}
      onClick={() => void pages.fetchNextPage()}
    >
      {pages.isFetchingNextPage ? "Loading…" : label}
    </button>
  );
}

/**
 * The console's list table: a scrolling card with a caption for screen readers, one
 * column header per `columns` entry, the rows given as children and, for a paginated
 * list, its "load more" button underneath.
 */
export function DataTable({
  caption,
  columns,
  children,
  more,
}: {
  caption: string;
  columns: readonly string[];
  children: ReactNode;
  more?: { pages: MorePages; label: string };
}) {
  return (
    <div className="table-scroll card">
      <table>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
      {more ? <LoadMoreButton pages={more.pages} label={more.label} /> : null}
    </div>
  );
}
