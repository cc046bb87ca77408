package nodejs

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"
)

// DefaultNodeDist is nodejs.org's release directory, the second source of
// Node.js (for the releases the registry's node-linux-<arch> packages
// lack) unless the app's NODEJS_ORG_MIRROR names a mirror of it.
const DefaultNodeDist = "https://nodejs.org/dist/"

// nodeDist reads a nodejs.org/dist-shaped release directory: index.json
// lists the releases, vX/SHASUMS256.txt their checksums, and
// vX/node-vX-linux-<arch>.tar.gz holds node.
type nodeDist struct {
	base   string // ends in "/"
	client *http.Client
}

func newNodeDist(base string) *nodeDist {
	return &nodeDist{base: baseURL(base, DefaultNodeDist), client: &http.Client{Timeout: 5 * time.Minute}}
}

// host names the release directory in messages.
func (d *nodeDist) host() string { return hostOf(d.base) }

// distArch is nodejs.org's name of this machine's architecture.
func distArch() string {
	if runtime.GOARCH == "amd64" {
		return "x64"
	}
	return runtime.GOARCH
}

// get fetches base+rel, reading at most limit bytes of an OK answer.
func (d *nodeDist) get(ctx context.Context, rel string, limit int64) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", d.base+rel, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the Node.js release site %s is unreachable (%v): check the build host's network, or set NODEJS_ORG_MIRROR to a mirror it can reach", d.host(), err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("the Node.js release site %s answered %s for %s", d.host(), resp.Status, rel)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, limit), resp.Body}, nil
}

// versions lists the releases that have a linux tarball for this machine.
func (d *nodeDist) versions(ctx context.Context) ([]version, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	body, err := d.get(ctx, "index.json", 16<<20)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	var index []struct {
		Version string   `json:"version"`
		Files   []string `json:"files"`
	}
	if err := json.NewDecoder(body).Decode(&index); err != nil {
		return nil, fmt.Errorf("reading index.json from %s: %w", d.host(), err)
	}
	var out []version
	for _, rel := range index {
		v, err := parseVersion(rel.Version)
		if err != nil || strings.Contains(rel.Version, "-") {
			continue
		}
		for _, f := range rel.Files {
			if f == "linux-"+distArch() {
				out = append(out, v)
				break
			}
		}
	}
	return out, nil
}

// install puts node v into dir unless an earlier build did, reporting
// whether it was there. The tarball is checked against SHASUMS256.txt
// before anything is unpacked: a mismatch is refused.
func (d *nodeDist) install(ctx context.Context, v version, dir string) (bool, error) {
	return installOnce(dir, func(tmp string) error { return d.download(ctx, v, tmp) })
}

func (d *nodeDist) download(ctx context.Context, v version, dest string) error {
	name := fmt.Sprintf("node-v%s-linux-%s.tar.gz", v, distArch())
	want, err := d.checksum(ctx, v, name)
	if err != nil {
		return err
	}
	body, err := d.get(ctx, "v"+v.String()+"/"+name, 1<<30)
	if err != nil {
		return fmt.Errorf("downloading node %s: %w", v, err)
	}
	defer body.Close()
	f, err := os.CreateTemp(dest, ".tgz-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), body); err != nil {
		return fmt.Errorf("downloading node %s from %s: %w", v, d.host(), err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("downloading node %s from %s: %s does not match its SHASUMS256.txt (sha256 %s, want %s): refusing it", v, d.host(), name, got, want)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := untar(f, dest); err != nil {
		return fmt.Errorf("unpacking %s: %w", name, err)
	}
	return nil
}

// checksum is the sha256 SHASUMS256.txt of release v gives for file.
func (d *nodeDist) checksum(ctx context.Context, v version, file string) (string, error) {
	body, err := d.get(ctx, "v"+v.String()+"/SHASUMS256.txt", 1<<20)
	if err != nil {
		return "", fmt.Errorf("downloading node %s: %w", v, err)
	}
	defer body.Close()
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[1] == file && len(f[0]) == 64 {
			return strings.ToLower(f[0]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading SHASUMS256.txt of node %s from %s: %w", v, d.host(), err)
	}
	return "", fmt.Errorf("the SHASUMS256.txt of node %s on %s lists no %s", v, d.host(), file)
}

// newestMatching is the newest of vs that satisfies rng and fits (nil
// accepts all).
func newestMatching(vs []version, rng string, fits func(version) bool) (version, bool, error) {
	var best version
	found := false
	for _, v := range vs {
		ok, err := satisfies(v, rng)
		if err != nil {
			return version{}, false, fmt.Errorf("%q is not a version range: %w", rng, err)
		}
		if ok && (fits == nil || fits(v)) && (!found || v.cmp(best) > 0) {
			best, found = v, true
		}
	}
	return best, found, nil
}
