package nodejs

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultRegistry is where Node.js itself (the node-linux-<arch>
// packages), npm, yarn and pnpm come from unless the app's
// NPM_CONFIG_REGISTRY says otherwise.
const DefaultRegistry = "https://registry.npmjs.org/"

// registry reads package metadata and tarballs from an npm registry.
type registry struct {
	base   string // ends in "/"
	client *http.Client

	mu    sync.Mutex
	known map[string]*packument // metadata read in this build, by package
}

func newRegistry(base string) *registry {
	return &registry{base: baseURL(base, DefaultRegistry), client: &http.Client{Timeout: 5 * time.Minute}}
}

// baseURL is base (def when empty) ending in "/".
func baseURL(base, def string) string {
	if base == "" {
		base = def
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base
}

// hostOf names the server of base in messages.
func hostOf(base string) string {
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return base
}

// host names the registry in messages.
func (r *registry) host() string { return hostOf(r.base) }

// packument is the part of a package's metadata the buildpack reads.
type packument struct {
	Name     string                `json:"name"`
	DistTags map[string]string     `json:"dist-tags"`
	Versions map[string]pkgVersion `json:"versions"`
}

type pkgVersion struct {
	Version string          `json:"version"`
	Bin     json.RawMessage `json:"bin"`
	Engines engines         `json:"engines"`
	Dist    struct {
		Tarball   string `json:"tarball"`
		Integrity string `json:"integrity"`
		Shasum    string `json:"shasum"`
	} `json:"dist"`
}

// engines is a package's "engines": some old releases have a list there,
// which is taken as no requirement.
type engines map[string]string

func (e *engines) UnmarshalJSON(b []byte) error {
	m := map[string]any{}
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	*e = engines{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			(*e)[k] = s
		}
	}
	return nil
}

// errNoPackage is a package the registry does not have.
var errNoPackage = errors.New("no such package")

// metadata fetches a package's metadata, once a build.
func (r *registry) metadata(ctx context.Context, name string) (*packument, error) {
	r.mu.Lock()
	p, ok := r.known[name]
	r.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := r.fetchMetadata(ctx, name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.known == nil {
		r.known = map[string]*packument{}
	}
	r.known[name] = p
	return p, nil
}

func (r *registry) fetchMetadata(ctx context.Context, name string) (*packument, error) {
	u := r.base + strings.Replace(url.PathEscape(name), "%40", "@", 1)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, r.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%s on %s: %w", name, r.host(), errNoPackage)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the npm registry %s answered %s for %s", r.host(), resp.Status, name)
	}
	var p packument
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&p); err != nil {
		return nil, fmt.Errorf("reading %s's metadata from %s: %w", name, r.host(), err)
	}
	return &p, nil
}

func (r *registry) unreachable(err error) error {
	return fmt.Errorf("the npm registry %s is unreachable (%v): check the build host's network, or set NPM_CONFIG_REGISTRY to a registry it can reach", r.host(), err)
}

// resolve picks the newest version of p that satisfies rng, ignoring
// prereleases unless rng names one exactly. ok filters the candidates
// further (nil accepts all).
func (p *packument) resolve(rng string, ok func(pkgVersion) bool) (pkgVersion, error) {
	rng = strings.TrimSpace(rng)
	if v, found := p.Versions[strings.TrimPrefix(rng, "v")]; found {
		return v, nil
	}
	if tag, found := p.DistTags[rng]; found {
		if v, found := p.Versions[tag]; found {
			return v, nil
		}
	}
	var best pkgVersion
	var bestV version
	found := false
	for s, pv := range p.Versions {
		if strings.ContainsAny(s, "-+") {
			continue
		}
		v, err := parseVersion(s)
		if err != nil {
			continue
		}
		match, err := satisfies(v, rng)
		if err != nil {
			return pkgVersion{}, fmt.Errorf("%q is not a version range: %w", rng, err)
		}
		if match && (ok == nil || ok(pv)) && (!found || v.cmp(bestV) > 0) {
			best, bestV, found = pv, v, true
		}
	}
	if !found {
		return pkgVersion{}, fmt.Errorf("no version of %s matches %q (newest: %s)", p.Name, rng, p.newest())
	}
	return best, nil
}

// newest lists the three newest stable versions, for messages.
func (p *packument) newest() string {
	var vs []version
	for s := range p.Versions {
		if v, err := parseVersion(s); err == nil && !strings.ContainsAny(s, "-+") {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].cmp(vs[j]) > 0 })
	var out []string
	for i := 0; i < len(vs) && i < 3; i++ {
		out = append(out, vs[i].String())
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// install puts the package version v into dir (the tarball's top
// directory stripped), unless an earlier build did. It reports whether
// dir was already there. The tarball is checked against the registry's
// integrity hash before anything is unpacked.
func (r *registry) install(ctx context.Context, name string, v pkgVersion, dir string) (cached bool, err error) {
	return installOnce(dir, func(tmp string) error { return r.download(ctx, name, v, tmp) })
}

// installOnce fills dir (through fill, on a temporary directory beside it
// renamed into place when complete) unless an earlier build did, and
// reports whether it was there.
func installOnce(dir string, fill func(tmp string) error) (cached bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, ".pier-complete")); err == nil {
		return true, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".partial-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".pier-complete"), nil, 0o644); err != nil {
		return false, err
	}
	os.RemoveAll(dir) // an incomplete one from a build that was stopped
	if err := os.Rename(tmp, dir); err != nil {
		return false, fmt.Errorf("installing %s: %w", filepath.Base(dir), err)
	}
	return false, nil
}

func (r *registry) download(ctx context.Context, name string, v pkgVersion, dest string) error {
	if v.Dist.Tarball == "" {
		return fmt.Errorf("the npm registry %s lists no tarball for %s@%s", r.host(), name, v.Version)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", v.Dist.Tarball, nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s@%s: %w", name, v.Version, r.unreachable(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s@%s from %s: %s", name, v.Version, r.host(), resp.Status)
	}
	f, err := os.CreateTemp(dest, ".tgz-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h, want, err := integrity(v)
	if err != nil {
		return fmt.Errorf("%s@%s: %w", name, v.Version, err)
	}
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return fmt.Errorf("downloading %s@%s: %w", name, v.Version, err)
	}
	if got := h.Sum(nil); string(got) != string(want) {
		return fmt.Errorf("downloading %s@%s: the tarball does not match the registry's checksum", name, v.Version)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := untar(f, dest); err != nil {
		return fmt.Errorf("unpacking %s@%s: %w", name, v.Version, err)
	}
	return nil
}

// integrity returns the hash the registry names for v and its expected sum.
func integrity(v pkgVersion) (hash.Hash, []byte, error) {
	for _, s := range strings.Fields(v.Dist.Integrity) {
		if b64, ok := strings.CutPrefix(s, "sha512-"); ok {
			sum, err := base64.StdEncoding.DecodeString(b64)
			if err == nil {
				return sha512.New(), sum, nil
			}
		}
	}
	if v.Dist.Shasum != "" {
		sum, err := hex.DecodeString(v.Dist.Shasum)
		if err == nil {
			return sha1.New(), sum, nil
		}
	}
	return nil, nil, errors.New("the registry gives no checksum to check the tarball against")
}

// untar unpacks a gzipped npm package tarball into dest, dropping its top
// directory ("package/"). Nothing may land outside dest.
func untar(r io.Reader, dest string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + h.Name)
		_, rel, ok := strings.Cut(name[1:], "/")
		if !ok || rel == "" {
			continue
		}
		to := filepath.Join(dest, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			target := path.Join(path.Dir(rel), h.Linkname)
			if path.IsAbs(h.Linkname) || target == ".." || strings.HasPrefix(target, "../") {
				continue // a link out of the package is dropped
			}
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return err
			}
			os.Remove(to)
			if err := os.Symlink(h.Linkname, to); err != nil {
				return err
			}
		}
	}
}
