// Package browsertest drives Text Lens in a real Chromium: it loads the
// page, submits a text and reads the result as a user sees it. Its test runs
// against a locally started app, or against any deployment named by
// SAMPLE_APP_URL (for example http://hello.localhost:8080 through pier's
// proxy).
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNoChromium means no Chromium or Chrome binary was found.
var ErrNoChromium = errors.New("chromium not found: install it (apt-get install chromium) or set CHROMIUM to its path")

// FindChromium returns $CHROMIUM or the first Chromium or Chrome on PATH.
func FindChromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// Result is what the page showed after an analysis.
type Result struct {
	Title      string
	Banner     string // the release banner's text
	Sentiment  string // the sentiment label shown
	Topic      string // the topic label shown
	Summary    []string
	Screenshot []byte // PNG of the whole page
}

// Analyze opens url in a headless Chromium at chromium, types text, clicks
// Analyze and waits for the result. It gives up after timeout.
func Analyze(ctx context.Context, chromium, url, text string, timeout time.Duration) (Result, error) {
	userData, err := os.MkdirTemp("", "text-lens-chromium")
	if err != nil {
		return Result{}, fmt.Errorf("creating a Chromium profile: %w", err)
	}
	defer os.RemoveAll(userData)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(userData),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1100, 1000),
	)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	var r Result
	err = chromedp.Do(bctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.ID("text")),
	)
	if err != nil {
		return r, fmt.Errorf("loading %s in Chromium: %w", url, err)
	}
	if r.Title, err = chromedp.Run(bctx, chromedp.Title()); err != nil {
		return r, fmt.Errorf("reading the title: %w", err)
	}
	if r.Banner, err = chromedp.Run(bctx, chromedp.Text(chromedp.ID("release"))); err != nil {
		return r, fmt.Errorf("reading the release banner: %w", err)
	}
	err = chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("text"), text),
		chromedp.Click(chromedp.ID("analyze")),
		chromedp.WaitVisible(chromedp.ID("result")),
	)
	if err != nil {
		return r, fmt.Errorf("submitting a text on %s: %w", url, err)
	}
	if r.Sentiment, err = chromedp.Run(bctx, chromedp.Text(chromedp.ID("sentiment-label"))); err != nil {
		return r, fmt.Errorf("reading the sentiment: %w", err)
	}
	if r.Topic, err = chromedp.Run(bctx, chromedp.Text(chromedp.ID("topic-label"))); err != nil {
		return r, fmt.Errorf("reading the topic: %w", err)
	}
	summary, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("summary")))
	if err != nil {
		return r, fmt.Errorf("reading the summary: %w", err)
	}
	if r.Screenshot, err = chromedp.Run(bctx, chromedp.FullScreenshot(100)); err != nil {
		return r, fmt.Errorf("taking a screenshot: %w", err)
	}
	for _, line := range strings.Split(summary, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			r.Summary = append(r.Summary, line)
		}
	}
	return r, nil
}
