// The browser test lives in its own module so that its dependency on
// chromedp never reaches the app's build: `go install ./...` in the app
// stays standard-library only and works offline.
module github.com/pierhq/pier/sample-app/browsertest

go 1.26

require github.com/chromedp/chromedp v0.23.0

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
)
