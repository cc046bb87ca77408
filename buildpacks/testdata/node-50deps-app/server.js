// Answers with the work of a few of its 50 dependencies.
const http = require("http");
const ms = require("ms");
const bytes = require("bytes");
const semver = require("semver");
const escape = require("escape-html");
http.createServer((req, res) => {
  res.end(["ms " + ms(60000), "bytes " + bytes(1048576), "semver " + semver.valid("1.2.3"), escape("<50 deps>")].join("; ") + "\n");
}).listen(process.env.PORT, "127.0.0.1");
