// Serves what the build produced; devDependencies are gone by now.
const http = require("http");
const fs = require("fs");
let dev = "pruned";
try { require.resolve("devtool"); dev = "present"; } catch (e) {}
http.createServer((req, res) => {
  res.end(fs.readFileSync("dist/message.txt", "utf8") + "devtool " + dev + "\n");
}).listen(process.env.PORT, "127.0.0.1");
