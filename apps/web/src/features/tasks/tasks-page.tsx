export function TasksPage() {
  return <section className="page"><h1>TasksPage</h1></section>;
}
import { z } from "zod";
export const tasksSearch = z.object({});
