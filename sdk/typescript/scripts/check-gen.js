// `npm run gen:check`: fails when src/gen differs from what `npm run gen` would write.
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "behalf-sdk-gen-"));

function files(dir, base = dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? files(full, base) : [path.relative(base, full)];
  });
}

try {
  execFileSync(path.join(root, "node_modules", ".bin", "buf"), ["generate", "-o", scratch], {
    cwd: root,
    stdio: "inherit",
  });
  const want = path.join(scratch, "src", "gen");
  const have = path.join(root, "src", "gen");
  const names = new Set([...files(want), ...(fs.existsSync(have) ? files(have) : [])]);
  const stale = [...names].filter((name) => {
    const a = path.join(want, name);
    const b = path.join(have, name);
    return !fs.existsSync(a) || !fs.existsSync(b) || !fs.readFileSync(a).equals(fs.readFileSync(b));
  });
  if (stale.length > 0) {
    console.error(`src/gen is stale; run \`npm run gen\`:\n  ${stale.join("\n  ")}`);
    process.exit(1);
  }
  console.log("src/gen is up to date");
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
