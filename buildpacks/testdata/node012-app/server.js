// Node.js 0.10 knows no const, let or arrow functions.
var http = require("http");
var ms = require("ms");
http.createServer(function (req, res) {
  res.end("node " + process.version + " ms " + ms(60000) + "\n");
}).listen(process.env.PORT, "127.0.0.1");
