// Rules shared by the join page and the chat page; they mirror the server's.

const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const RESERVED_ROOMS = new Set(["healthz", "readyz", "metrics", "schema", "static"]);
const NICKNAME_KEY = "flychat.nickname";
const MAX_NICKNAME = 64;
// C0 and C1 controls and DEL; text may contain \n and \t.
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/u;
const TEXT_CONTROL_RE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;

/** An error message for a room name, or "" when it is valid (case-sensitive). */
export function validateRoom(room) {
  if (!ROOM_RE.test(room)) return "Room names are 1–64 letters, digits, _ or -.";
  if (RESERVED_ROOMS.has(room)) return `“${room}” is a reserved name; pick another room.`;
  return "";
}

/** An error message for a nickname (after trimming), or "" when it is valid. */
export function validateNickname(name) {
  const trimmed = name.trim();
  if (!trimmed) return "Pick a nickname.";
  if ([...trimmed].length > MAX_NICKNAME) return `Nicknames are at most ${MAX_NICKNAME} characters.`;
  if (CONTROL_RE.test(trimmed)) return "Nicknames cannot contain control characters.";
  return "";
}

/** An error message for a message text, or "" when the server would accept it. */
export function validateText(text, maxLength) {
  if (!text.trim()) return "Type a message first.";
  const length = [...text.replace(/\r\n/g, "\n")].length;
  if (length > maxLength) return `Messages are at most ${maxLength} characters (this one has ${length}).`;
  if (TEXT_CONTROL_RE.test(text.replace(/\r\n/g, "\n"))) return "The message contains control characters.";
  return "";
}

/** A random UUID v4; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function newProvisionalId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function rememberNickname(name) {
  try {
    localStorage.setItem(NICKNAME_KEY, name);
  } catch {
    // Storage can be disabled (private mode, policies): the nickname is just not remembered.
  }
}

export function rememberedNickname() {
  try {
    return localStorage.getItem(NICKNAME_KEY) || "";
  } catch {
    return "";
  }
}
