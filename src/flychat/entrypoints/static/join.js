// The join page: pick (and remember) a nickname, pick a room, go to the chat.

import { rememberedNickname, rememberNickname, validateNickname, validateRoom } from "./common.js";

const form = document.getElementById("join");
const nickname = document.getElementById("user");
const roomInput = document.getElementById("room");
const errorEl = document.getElementById("join-error");

if (!nickname.value) nickname.value = rememberedNickname();
(nickname.value ? roomInput : nickname).focus();

function showError(message, field) {
  errorEl.textContent = message;
  errorEl.hidden = !message;
  for (const input of [nickname, roomInput]) {
    input.setAttribute("aria-invalid", String(input === field));
  }
  if (field) field.focus();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = nickname.value.trim();
  const room = roomInput.value.trim();
  const nameProblem = validateNickname(name);
  if (nameProblem) return showError(nameProblem, nickname);
  const roomProblem = validateRoom(room);
  if (roomProblem) return showError(roomProblem, roomInput);
  showError("", null);
  rememberNickname(name);
  window.location.assign(`/${encodeURIComponent(room)}?user=${encodeURIComponent(name)}`);
});
