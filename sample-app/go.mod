// +heroku goVersion go1.26
// +heroku install ./cmd/...

module github.com/pierhq/pier/sample-app

go 1.26
