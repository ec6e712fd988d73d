// What the browser drivers share: Debian's Chromium through playwright-core (no browser download), a fresh
// profile per run (removed afterwards), and the process protocol: options as JSON in argv[2], the result as
// one JSON line on stdout, a failure as a stack trace on stderr with exit status 1.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

// Runs `drive(context, options)` in a new persistent Chromium context and prints what it returns.
export function runDriver(drive, contextOptions = () => ({})) {
  async function main() {
    const options = JSON.parse(process.argv[2]);
    const userDataDir = mkdtempSync(join(tmpdir(), "playground-chromium-"));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, ...contextOptions(options),
    });
    try {
      process.stdout.write(`${JSON.stringify(await drive(context, options))}\n`);
    } finally {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    }
  }
  main().catch((error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  });
}
