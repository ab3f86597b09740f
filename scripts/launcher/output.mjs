// Terminal output of the launcher: prefixed, optionally coloured lines, and a compact
// rendering of the services' pino JSON logs.
import { styleText } from "node:util";

const useColor = (() => {
  if (process.env.NO_COLOR) return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== "0") return true;
  return Boolean(process.stdout.isTTY);
})();

/** Colours a text when the output is a terminal; identity otherwise. */
export function paint(style, text) {
  return useColor ? styleText(style, text) : text;
}

const PALETTE = ["cyan", "magenta", "blue", "yellow", "green", "redBright", "cyanBright", "magentaBright"];
const colorOf = new Map();

function nameColor(name) {
  const base = name.replace(/-\d+$/, "");
  if (!colorOf.has(base)) colorOf.set(base, PALETTE[colorOf.size % PALETTE.length]);
  return colorOf.get(base);
}

let nameWidth = 10;
export function setNameWidth(width) {
  nameWidth = Math.max(nameWidth, width);
}

/** Prints one line of `name`'s output with its coloured prefix. */
export function printLine(name, text, stream = process.stdout) {
  const prefix = paint(nameColor(name), name.padEnd(nameWidth));
  stream.write(`${prefix} ${paint("dim", "│")} ${text}\n`);
}

/** A message of the launcher itself. */
export function say(text) {
  printLine("perseus", text);
}

export function warn(text) {
  printLine("perseus", paint("yellow", text), process.stderr);
}

export function fail(text) {
  printLine("perseus", paint("red", text), process.stderr);
}

const LEVELS = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
const LEVEL_STYLES = { 10: "gray", 20: "gray", 30: "green", 40: "yellow", 50: "red", 60: "red" };
const HEALTH_PATHS = new Set(["/readyz", "/healthz", "/metrics"]);
const SKIP_KEYS = new Set([
  "level",
  "time",
  "pid",
  "hostname",
  "msg",
  "service",
  "instance",
  "reqId",
  "req",
  "res",
  "responseTime",
  "err",
]);

function formatValue(value) {
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/**
 * Renders the JSON log lines of one child: request pairs collapse into one line
 * ("GET /api/x 200 3ms"), health probes are dropped (the edge polls every few seconds),
 * other fields follow the message as key=value. Non-JSON lines pass through.
 */
export function createLogRenderer({ raw = false } = {}) {
  const pending = new Map(); // reqId → "METHOD url" of requests that have not completed yet
  const quiet = new Set(); // reqIds of health probes

  return (line) => {
    if (raw || !line.startsWith("{")) return line;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      return line;
    }
    const { level = 30, msg = "", reqId } = entry;
    if (entry.req && reqId !== undefined) {
      const url = String(entry.req.url ?? "");
      if (HEALTH_PATHS.has(url)) {
        quiet.add(reqId);
        return null;
      }
      if (msg === "incoming request") {
        if (pending.size > 1000) pending.clear();
        pending.set(reqId, `${entry.req.method} ${url}`);
        return null;
      }
    }
    if (reqId !== undefined && quiet.has(reqId)) {
      if (entry.res) quiet.delete(reqId);
      return null;
    }
    let text = msg;
    if (entry.res && msg === "request completed") {
      const request = pending.get(reqId) ?? "request";
      pending.delete(reqId);
      const status = entry.res.statusCode;
      const statusText = paint(status >= 500 ? "red" : status >= 400 ? "yellow" : "green", String(status));
      text = `${request} ${statusText} ${paint("dim", `${Math.round(entry.responseTime ?? 0)}ms`)}`;
    }
    const extras = Object.entries(entry)
      .filter(([key]) => !SKIP_KEYS.has(key))
      .map(([key, value]) => paint("dim", `${key}=${formatValue(value)}`));
    if (entry.err)
      extras.push(paint("red", entry.err.stack ?? entry.err.message ?? JSON.stringify(entry.err)));
    const time = new Date(entry.time ?? Date.now()).toTimeString().slice(0, 8);
    const label = paint(LEVEL_STYLES[level] ?? "white", LEVELS[level] ?? String(level));
    return `${paint("dim", time)} ${label} ${[text, ...extras].join(" ")}`;
  };
}

/** A fixed-width table for the terminal. */
export function table(headers, rows) {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => String(row[i]).length)),
  );
  const render = (cells) => cells.map((cell, i) => String(cell).padEnd(widths[i])).join("  ");
  return [paint("bold", render(headers)), ...rows.map(render)];
}
