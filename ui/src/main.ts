import { invoke } from "@tauri-apps/api/core";

async function start(): Promise<void> {
  const status = document.getElementById("status");
  const version = document.getElementById("version");
  try {
    const v = await invoke<string>("app_version");
    if (version) version.textContent = `Version ${v}`;
    if (status) status.textContent = "Ready. Your permits will appear here.";
  } catch (err) {
    if (status) status.textContent = `Kerbside could not start: ${String(err)}`;
  }
}

void start();
