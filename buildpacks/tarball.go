package buildpacks

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/internal/untar"
)

// Bounds of a buildpack fetched as a tarball, so that a tar bomb fails
// with a message instead of filling the disk.
const (
	maxBuildpackDownload = 100 << 20 // gzipped bytes
	// DefaultMaxBuildpackBytes bounds the files of an unpacked tarball.
	DefaultMaxBuildpackBytes = 1 << 30
	maxBuildpackEntries      = 100_000
)

// errTooLarge ends a download past maxBuildpackDownload.
var errTooLarge = fmt.Errorf("the download is larger than %d MiB", maxBuildpackDownload>>20)

// isTarballURL reports whether ref is an http(s) URL of a gzipped tarball,
// as Heroku accepts for buildpacks (https://.../buildpack.tgz).
func isTarballURL(ref string) bool {
	u, err := url.Parse(ref)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return false
	}
	p := strings.ToLower(u.Path)
	return strings.HasSuffix(p, ".tgz") || strings.HasSuffix(p, ".tar.gz")
}

// downloadBuildpack fetches a tarball buildpack and unpacks it through
// internal/untar, within fetchTimeout and the bounds above. It returns the
// buildpack's directory: the tarball's root, or its one top directory.
func downloadBuildpack(ctx context.Context, ref, work string, maxBytes int64) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	fail := func(err error) (string, error) {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", fetchTimeout)
		}
		return "", fmt.Errorf("fetching buildpack %s: %w: check the URL in BUILDPACK or app.json", ref, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return fail(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusOK:
		return fail(fmt.Errorf("the server answered %s", resp.Status))
	case resp.ContentLength > maxBuildpackDownload:
		return fail(errTooLarge)
	}
	zr, err := gzip.NewReader(&capReader{r: resp.Body, n: maxBuildpackDownload})
	if err != nil {
		return fail(fmt.Errorf("not a gzipped tarball: %w", err))
	}
	dir := fetchDir(ref, work)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fail(err)
	}
	o := untar.Options{What: "buildpack " + ref, MaxBytes: maxBytes, MaxEntries: maxBuildpackEntries}
	if err := untar.Extract(zr, dir, o); err != nil {
		if errors.Is(err, untar.ErrRefused) {
			return "", err
		}
		return fail(err)
	}
	return tarballRoot(dir), nil
}

// tarballRoot is dir, or the one directory dir holds when the buildpack's
// bin/ is in it (as in GitHub's archives, NAME-VERSION/bin/...).
func tarballRoot(dir string) string {
	if fi, err := os.Lstat(filepath.Join(dir, "bin")); err == nil && fi.IsDir() {
		return dir
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || !ents[0].IsDir() {
		return dir
	}
	return filepath.Join(dir, ents[0].Name())
}

// capReader reads at most n bytes, then fails with errTooLarge.
type capReader struct {
	r io.Reader
	n int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.n+1 {
		p = p[:c.n+1]
	}
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n < 0 {
		return n, errTooLarge
	}
	return n, err
}
