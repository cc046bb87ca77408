// Serves what the build wrote, with the node version it runs on.
const http = require("http");
const fs = require("fs");
const message = fs.readFileSync("dist/message.txt", "utf8");
const server = http.createServer((req, res) => {
  res.end("hello from node " + process.version + " on " + process.env.DYNO + "\n" + message);
});
server.listen(process.env.PORT, "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
