// Runs at build time (npm run build): what it writes is in the slug.
const fs = require("fs");
fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/message.txt", "built by npm run build\n");
