package golang

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// The Go an app builds with is the one its go.mod asks for: the
// "// +heroku goVersion" directive, else the toolchain line, else the go
// line. A version with two parts (go1.22) means the newest release of that
// line. The go line is a minimum, as the go command reads it: the build
// host's go builds the module when it is as new (with the GODEBUG defaults
// of the go line, so it behaves as that release would); only an older one
// makes the build install the newest release of the line. The go command
// installs a release (GOTOOLCHAIN=go1.22.12) from the module proxy, as the
// golang.org/toolchain module, into the module cache under the app's build
// cache.

// goRelease is a Go release: 1.22.5 is {1, 22, 5}.
type goRelease [3]int

func (r goRelease) String() string { return fmt.Sprintf("go%d.%d.%d", r[0], r[1], r[2]) }

// parseGo reads "1.22", "go1.22.5", "=1.22.5": the release and how many
// parts it gave.
func parseGo(s string) (goRelease, int, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "="), "go")
	var r goRelease
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return r, 0, fmt.Errorf("%q is not a Go version (go1.22 or go1.22.5)", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return r, 0, fmt.Errorf("%q is not a Go version (go1.22 or go1.22.5)", s)
		}
		r[i] = n
	}
	return r, len(parts), nil
}

// wantedGo is the version go.mod asks for and where it says so; "" when
// it asks for none.
func wantedGo(m goMod) (string, string) {
	switch {
	case m.goVersion != "":
		return m.goVersion, "// +heroku goVersion"
	case m.toolchain != "":
		return m.toolchain, "go.mod's toolchain line"
	case m.goLine != "":
		return m.goLine, "go.mod's go line"
	}
	return "", ""
}

// goproxy is the build's GOPROXY: the app's config var, else the build
// host's, else the go command's default.
func goproxy(cfg map[string]string) string {
	if v := strings.TrimSpace(cfg["GOPROXY"]); v != "" {
		return v
	}
	if v := os.Getenv("GOPROXY"); v != "" {
		return v
	}
	return "https://proxy.golang.org,direct"
}

// proxyURL is the first module proxy of GOPROXY.
func proxyURL(cfg map[string]string) (string, error) {
	v := goproxy(cfg)
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '|' }) {
		switch p = strings.TrimSpace(p); p {
		case "direct", "off", "":
			continue
		}
		return strings.TrimSuffix(p, "/"), nil
	}
	return "", fmt.Errorf("GOPROXY=%q names no module proxy to install Go from: add one (https://proxy.golang.org)", v)
}

// releases lists the Go releases the proxy serves for this machine.
func releases(ctx context.Context, proxy string) ([]goRelease, error) {
	host := proxy
	if u, err := url.Parse(proxy); err == nil && u.Host != "" {
		host = u.Host
	}
	req, err := http.NewRequestWithContext(ctx, "GET", proxy+"/golang.org/toolchain/@v/list", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the Go module proxy %s is unreachable (%v): check the build host's network, or set GOPROXY to a proxy it can reach", host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the Go module proxy %s answered %s for the list of Go releases", host, resp.Status)
	}
	suffix := "." + runtime.GOOS + "-" + runtime.GOARCH
	var out []goRelease
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "v0.0.1-go")
		if !ok || !strings.HasSuffix(v, suffix) {
			continue
		}
		r, n, err := parseGo(strings.TrimSuffix(v, suffix))
		if err != nil {
			continue // a release candidate or beta
		}
		if n == 2 {
			r[2] = 0 // go1.20 was the first release of 1.20
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return less(out[j], out[i]) })
	return out, nil
}

func less(a, b goRelease) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// pickGo resolves want among the releases: a line's newest, or exactly
// the release named.
func pickGo(want string, all []goRelease) (goRelease, error) {
	r, n, err := parseGo(want)
	if err != nil {
		return r, err
	}
	for _, c := range all { // newest first
		if c[0] == r[0] && c[1] == r[1] && (n == 2 || c[2] == r[2] || (r[2] == 0 && c[2] == 0)) {
			return c, nil
		}
	}
	var newest []string
	for i := 0; i < len(all) && i < 3; i++ {
		newest = append(newest, all[i].String())
	}
	return r, fmt.Errorf("go%s is not a Go release the module proxy serves (newest: %s)", strings.TrimPrefix(strings.TrimPrefix(want, "="), "go"), strings.Join(newest, ", "))
}

// selectGo decides the GOTOOLCHAIN of the build and says so: "local" when
// go.mod names no version or the machine's go is the one it resolves to.
func selectGo(ctx context.Context, r bpkit.Request, m goMod, cfg map[string]string, local string, modCache string) (string, error) {
	want, from := wantedGo(m)
	if want == "" {
		bpkit.Step(r.Log, "Using %s (go.mod names no Go version)", local)
		return "local", nil
	}
	if from == "go.mod's go line" {
		min, _, err := parseGo(want)
		if err != nil {
			return "", fmt.Errorf("go.mod's go line: %w", err)
		}
		if have, _, err := parseGo(local); err == nil && !less(have, min) {
			bpkit.Step(r.Log, "Using %s", local)
			bpkit.Info(r.Log, "go.mod's go line asks for go %s or newer; pin a release with a toolchain line or // +heroku goVersion", want)
			return "local", nil
		}
	}
	proxy, err := proxyURL(cfg)
	if err != nil {
		return "", err
	}
	all, err := releases(ctx, proxy)
	if err != nil {
		return "", err
	}
	rel, err := pickGo(want, all)
	if err != nil {
		return "", fmt.Errorf("%s asks for %s: %w", from, want, err)
	}
	name := rel.String()
	if rel[2] == 0 && rel[1] < 21 {
		name = fmt.Sprintf("go%d.%d", rel[0], rel[1]) // go1.20, not go1.20.0
	}
	bpkit.Step(r.Log, "Installing %s", name)
	switch {
	case name == local:
		bpkit.Info(r.Log, "Resolved %s %s to %s: this machine's go", from, want, name)
		return "local", nil
	case bpkit.Exists(filepath.Join(modCache, "golang.org", "toolchain@v0.0.1-"+name+"."+runtime.GOOS+"-"+runtime.GOARCH)):
		bpkit.Info(r.Log, "Resolved %s %s to %s: from the build cache", from, want, name)
	default:
		bpkit.Info(r.Log, "Resolved %s %s to %s: downloading it from %s", from, want, name, proxy)
	}
	return name, nil
}
