// Runs at build time with devDependencies installed.
const fs = require("fs");
const shout = require("devtool");
fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/message.txt", shout("hello from node") + "\n");
console.log("built dist/message.txt");
