// Answers with the checked-in module's greeting, what npm rebuild left in
// it, a dependency from the registry and what the build script saw.
const http = require("http");
const fs = require("fs");
const path = require("path");
const greet = require("pier-checked-in-greeting");
const ms = require("ms");
const read = (f) => { try { return fs.readFileSync(f, "utf8").trim(); } catch (e) { return "no " + path.basename(f); } };
http.createServer((req, res) => {
  const rebuilt = read(path.join(__dirname, "node_modules", "pier-checked-in-greeting", "rebuilt.txt"));
  res.end(greet("node") + "; " + rebuilt + "; ms " + ms(60000) + "; " + read("built.txt") + "\n");
}).listen(process.env.PORT, "127.0.0.1");
