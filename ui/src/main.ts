import { App } from "./app";

function el(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`index.html is missing #${id}`);
  return found;
}

const app = new App({
  nav: el("nav"),
  connection: el("connection"),
  screen: el("screen"),
  announcer: el("announcer"),
  version: el("version"),
  councilNote: el("council-note"),
  clockNote: el("clock-note"),
  who: el("who"),
});

// The skip link moves focus to the screen's heading rather than changing the URL.
el("skip-link").addEventListener("click", (ev) => {
  ev.preventDefault();
  app.focusHeading();
});

void app.start();
