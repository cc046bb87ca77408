// Answers with the node it runs on, a dependency's work, and whether the
// devDependency survived the build.
const http = require("http");
const fs = require("fs");
const ms = require("ms");
let dev = "pruned";
try { require.resolve("is-number"); dev = "present"; } catch (e) {}
let built = "not built";
try { built = fs.readFileSync("built.txt", "utf8").trim(); } catch (e) {}
http.createServer((req, res) => {
  res.end("node " + process.version + " ms " + ms(60000) + " dev " + dev + " " + built + " NODE_ENV=" + process.env.NODE_ENV + "\n");
}).listen(process.env.PORT, "127.0.0.1");
