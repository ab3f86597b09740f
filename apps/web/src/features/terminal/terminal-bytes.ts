// Terminal frames carry raw pty bytes as base64 inside JSON text.

const CHUNK = 0x8000;

/** Base64 of raw bytes. */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let offset = 0; offset < bytes.length; offset += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + CHUNK));
  }
  return btoa(binary);
}

/** Raw bytes of base64 text; `null` when it is not base64. */
export function base64ToBytes(text: string): Uint8Array | null {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

const encoder = new TextEncoder();

/** Keystrokes and pastes as the pty expects them: UTF-8. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A "binary string" (one char per byte, as xterm reports mouse events) as bytes. */
export function binaryString(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let index = 0; index < text.length; index += 1) bytes[index] = text.charCodeAt(index) & 0xff;
  return bytes;
}
