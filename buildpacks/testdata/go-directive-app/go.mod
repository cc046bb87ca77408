module example.com/directive

// +heroku goVersion go1.22.5
// +heroku install ./cmd/api

go 1.21
