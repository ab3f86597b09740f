import {
  type ErrorFrame,
  RobotClientFrame,
  type RobotErrorCode,
  type RobotServerFrame,
} from "@perseus/contracts";
import { z } from "zod";

const knownTypes = new Set(RobotClientFrame.options.map((option) => option.shape.type.value));

export type ParsedFrame = { ok: true; frame: RobotClientFrame } | { ok: false; error: ErrorFrame };

export const errorFrame = (ref: string | null, code: RobotErrorCode, message: string): ErrorFrame => ({
  type: "error",
  ref,
  code,
  message,
});

/** The client's frame id, when there is a usable one, so even a refused frame gets a named answer. */
function refOf(value: unknown): string | null {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === "string" && id.length > 0 && id.length <= 64 ? id : null;
}

/** Parses one text frame: invalid JSON, unknown types and schema violations become error frames. */
export function parseFrame(text: string): ParsedFrame {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, error: errorFrame(null, "invalid_frame", "frame is not valid JSON") };
  }
  const ref = refOf(json);
  if (typeof json !== "object" || json === null || Array.isArray(json))
    return { ok: false, error: errorFrame(ref, "invalid_frame", "a frame is a JSON object") };
  const type = (json as { type?: unknown }).type;
  if (typeof type !== "string" || !knownTypes.has(type as RobotClientFrame["type"])) {
    return {
      ok: false,
      error: errorFrame(
        ref,
        "unknown_frame",
        `unknown frame type ${JSON.stringify(type)?.slice(0, 40) ?? "(none)"}`,
      ),
    };
  }
  const parsed = RobotClientFrame.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      error: errorFrame(ref, "invalid_frame", z.prettifyError(parsed.error).slice(0, 500)),
    };
  }
  return { ok: true, frame: parsed.data };
}

export const serialize = (frame: RobotServerFrame) => JSON.stringify(frame);
