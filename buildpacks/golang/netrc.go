package golang

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// Private modules, as with Heroku's Go buildpack: a config var
// GO_GIT_CRED__<PROTOCOL>__<HOST> (the host's dots written as "__", so
// GO_GIT_CRED__HTTPS__GITHUB__COM) holds "TOKEN" or "USER:PASSWORD" for
// that host. The build writes them to a .netrc in its own home, which the
// go command reads for a module proxy (GOPROXY) and git for modules it
// fetches directly (GOPRIVATE); the file never enters the slug and goes
// with the build's home when the build ends.

const credPrefix = "GO_GIT_CRED__"

// writeNetrc writes the credentials of cfg to a .netrc in dir and returns
// its path, or "" when cfg has none.
func writeNetrc(r bpkit.Request, cfg map[string]string, dir string) (string, error) {
	var keys []string
	for k := range cfg {
		if strings.HasPrefix(k, credPrefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", nil
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		proto, host, ok := strings.Cut(strings.TrimPrefix(k, credPrefix), "__")
		if !ok || host == "" || (proto != "HTTPS" && proto != "HTTP") {
			return "", fmt.Errorf("config var %s: name it GO_GIT_CRED__HTTPS__<HOST>, the host's dots written as __ (GO_GIT_CRED__HTTPS__GITHUB__COM)", k)
		}
		host = strings.ToLower(strings.ReplaceAll(host, "__", "."))
		login, password, found := strings.Cut(strings.TrimSpace(cfg[k]), ":")
		if !found {
			password = "x-oauth-basic" // a token alone, as GitHub takes it
		}
		if login == "" || strings.ContainsAny(login+password, " \t\r\n") {
			return "", fmt.Errorf("config var %s must be TOKEN or USER:PASSWORD, without spaces", k)
		}
		fmt.Fprintf(&b, "machine %s login %s password %s\n", host, login, password)
		bpkit.Info(r.Log, "Using credentials from %s for %s", k, host)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, ".netrc")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("writing the credentials of %s: %w", strings.Join(keys, ", "), err)
	}
	return path, nil
}
