package nodejs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// tgz packs files (path: content, all executable) into a gzipped tarball.
func tgz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression) // fast: the machine's node is 100 MB
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeNode is a stand-in node binary that prints its version.
func fakeNode(v string) []byte { return []byte("#!/bin/sh\necho v" + v + "\n") }

// standInRegistry serves packages (name: version: tarball, engines.node)
// the way the npm registry does.
type standInPkg struct {
	tarball    []byte
	enginesFor string
}

func standInRegistry(t *testing.T, pkgs map[string]map[string]standInPkg) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		name, file, isTarball := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/-/")
		versions, ok := pkgs[name]
		if !ok {
			http.NotFound(w, req)
			return
		}
		if isTarball {
			v := strings.TrimSuffix(strings.TrimPrefix(file, name+"-"), ".tgz")
			w.Write(versions[v].tarball)
			return
		}
		meta := map[string]any{"name": name, "dist-tags": map[string]string{}}
		vs := map[string]any{}
		for v, p := range versions {
			sum := sha512.Sum512(p.tarball)
			vs[v] = map[string]any{
				"version": v,
				"engines": map[string]string{"node": p.enginesFor},
				"dist": map[string]string{
					"tarball":   fmt.Sprintf("%s/%s/-/%s-%s.tgz", srv.URL, name, name, v),
					"integrity": "sha512-" + base64.StdEncoding.EncodeToString(sum[:]),
				},
			}
		}
		meta["versions"] = vs
		json.NewEncoder(w).Encode(meta)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// standInNodePkg is a node-linux-<arch> package holding a stand-in node.
func standInNodePkg(t *testing.T, v string) standInPkg {
	return standInPkg{tarball: tgz(t, map[string][]byte{"package/bin/node": fakeNode(v), "package/package.json": []byte(`{"name":"` + nodePackage() + `"}`)})}
}

// standInDist serves releases (version: node binary) in nodejs.org/dist's
// layout: index.json, vX/SHASUMS256.txt, vX/node-vX-linux-<arch>.tar.gz.
// Those in badSum get a SHASUMS256.txt line that does not match.
func standInDist(t *testing.T, releases map[string][]byte, badSum map[string]bool) *httptest.Server {
	t.Helper()
	files := map[string][]byte{}
	var index []map[string]any
	for v, node := range releases {
		name := fmt.Sprintf("node-v%s-linux-%s.tar.gz", v, distArch())
		tarball := tgz(t, map[string][]byte{fmt.Sprintf("node-v%s-linux-%s/bin/node", v, distArch()): node})
		sum := sha256.Sum256(tarball)
		if badSum[v] {
			sum = sha256.Sum256([]byte("something else"))
		}
		files["/v"+v+"/"+name] = tarball
		files["/v"+v+"/SHASUMS256.txt"] = []byte(fmt.Sprintf("%s  node-v%s-headers.tar.gz\n%s  %s\n", strings.Repeat("0", 64), v, hex.EncodeToString(sum[:]), name))
		index = append(index, map[string]any{"version": "v" + v, "files": []string{"headers", "linux-" + distArch(), "win-x64-zip"}})
	}
	index = append(index, map[string]any{"version": "v13.0.0", "files": []string{"win-x64-zip"}}) // no linux build
	files["/index.json"], _ = json.Marshal(index)
	// buildpacktest.ServeFiles would do, but that package imports this one.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, ok := files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runNode runs the node a build put into the slug.
func runNode(t *testing.T, buildDir string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(buildDir, "bin", "node"), "--version").Output()
	if err != nil {
		t.Fatalf("the slug's node does not run: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestNodeFromNodejsOrg: a release the npm registry's node packages lack
// comes from nodejs.org's dist, checked against its SHASUMS256.txt; the
// newest release of either source that satisfies the range wins; the
// registry keeps serving when nodejs.org is down. nodejs.org cannot be
// reached from the test machine, so a local server stands in for it with
// nodejs.org's layout, serving this machine's own node repackaged as
// nodejs.org packs it, through the NODEJS_ORG_MIRROR a user would set.
func TestNodeFromNodejsOrg(t *testing.T) {
	machineNode, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed (scripts/install-test-deps installs it): %v", err)
	}
	nodeBin, err := os.ReadFile(machineNode)
	if err != nil {
		t.Fatal(err)
	}
	machineVer, err := exec.Command(machineNode, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	reg := standInRegistry(t, map[string]map[string]standInPkg{nodePackage(): {
		"14.21.3": standInNodePkg(t, "14.21.3"),
		"16.13.0": standInNodePkg(t, "16.13.0"),
	}})
	dist := standInDist(t, map[string][]byte{
		"14.15.3": nodeBin,
		"14.17.0": fakeNode("14.17.0"),
		"16.20.2": fakeNode("16.20.2"),
		"18.20.8": fakeNode("18.20.8"),
	}, map[string]bool{"14.17.0": true})
	distHost := strings.TrimPrefix(dist.URL, "http://")
	cache := t.TempDir()
	install := func(t *testing.T, mirror, rng string) (string, string, error) {
		t.Helper()
		var log strings.Builder
		r := bpkit.Request{BuildDir: t.TempDir(), CacheDir: cache, Log: &log}
		_, err := installNode(context.Background(), r, newRegistry(reg.URL), newNodeDist(configURL(map[string]string{"NODEJS_ORG_MIRROR": mirror}, DefaultNodeDist, "NODEJS_ORG_MIRROR")), rng, nil)
		return r.BuildDir, log.String(), err
	}
	wantLog := func(t *testing.T, log string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(log, w) {
				t.Errorf("the log lacks %q:\n%s", w, log)
			}
		}
	}

	t.Run("a release the registry lacks, then from the cache", func(t *testing.T) {
		dir, log, err := install(t, dist.URL, "14.15.3")
		if err != nil {
			t.Fatal(err)
		}
		wantLog(t, log, "-----> Installing node 14.15.3", "Downloaded node 14.15.3 from nodejs.org dist "+distHost)
		if got := runNode(t, dir); got != strings.TrimSpace(string(machineVer)) {
			t.Errorf("the slug's node says %q, want the repackaged %q", got, machineVer)
		}
		dir, log, err = install(t, dist.URL, "14.15.3")
		if err != nil {
			t.Fatal(err)
		}
		wantLog(t, log, "-----> Installing node 14.15.3", "Using node 14.15.3 from the build cache")
		if got := runNode(t, dir); got != strings.TrimSpace(string(machineVer)) {
			t.Errorf("the cached node says %q", got)
		}
	})
	for _, tc := range []struct{ rng, want, from string }{
		{"14.x", "14.21.3", "from the npm registry 127.0.0.1"},  // the registry's is newer
		{"16.x", "16.20.2", "from nodejs.org dist " + distHost}, // nodejs.org's is newer
		{"18.x", "18.20.8", "from nodejs.org dist " + distHost}, // the registry has no 18
	} {
		t.Run("range "+tc.rng, func(t *testing.T) {
			dir, log, err := install(t, dist.URL, tc.rng)
			if err != nil {
				t.Fatal(err)
			}
			wantLog(t, log, "-----> Installing node "+tc.want, tc.from)
			if got := runNode(t, dir); got != "v"+tc.want {
				t.Errorf("the slug's node says %q, want v%s", got, tc.want)
			}
		})
	}
	t.Run("a tarball that does not match SHASUMS256.txt is refused", func(t *testing.T) {
		dir, log, err := install(t, dist.URL, "14.17.0")
		if err == nil || !strings.Contains(err.Error(), "does not match its SHASUMS256.txt") || !strings.Contains(err.Error(), "refusing it") {
			t.Fatalf("err = %v; log:\n%s", err, log)
		}
		if _, err := os.Stat(filepath.Join(cache, "dist", nodePackage(), "14.17.0")); !os.IsNotExist(err) {
			t.Errorf("the refused release is in the cache (%v)", err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "bin", "node")); !os.IsNotExist(err) {
			t.Errorf("the slug got a node (%v)", err)
		}
	})
	t.Run("nodejs.org down: the registry still serves; what only nodejs.org has fails naming it", func(t *testing.T) {
		dir, log, err := install(t, "http://127.0.0.1:1/", "14.x")
		if err != nil {
			t.Fatal(err)
		}
		wantLog(t, log, "-----> Installing node 14.21.3", "Choosing among the npm registry's releases only: the Node.js release site 127.0.0.1:1 is unreachable")
		if got := runNode(t, dir); got != "v14.21.3" {
			t.Errorf("the slug's node says %q", got)
		}
		_, _, err = install(t, "http://127.0.0.1:1/", "18.x")
		for _, w := range []string{`no version of ` + nodePackage() + ` matches "18.x"`, "the Node.js release site 127.0.0.1:1 is unreachable", "set NODEJS_ORG_MIRROR"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("err = %v, want it to hold %q", err, w)
			}
		}
	})
}

// TestPackageManagerNeedsNewerNode: an app that names no engines.node but
// a pnpm whose own engines.node this machine's node does not meet gets
// the newest node of the default line that does (or, when none does, the
// newest that does), and the log says why; a package manager this
// machine's node suits keeps it. The registry is a local stand-in.
func TestPackageManagerNeedsNewerNode(t *testing.T) {
	reg := standInRegistry(t, map[string]map[string]standInPkg{
		nodePackage(): {
			"20.19.0": standInNodePkg(t, "20.19.0"), "22.12.0": standInNodePkg(t, "22.12.0"),
			"22.13.1": standInNodePkg(t, "22.13.1"), "24.11.0": standInNodePkg(t, "24.11.0"),
			"25.2.0": standInNodePkg(t, "25.2.0"),
		},
		"pnpm": {
			"11.0.0": {tarball: []byte("unused"), enginesFor: ">=22.13"},
			"12.0.0": {tarball: []byte("unused"), enginesFor: ">=25"},
		},
		"yarn": {"1.22.22": {tarball: []byte("unused"), enginesFor: ">=4.0.0"}},
	})
	// This machine's node, as far as the build can tell, is 20.11.1.
	path := t.TempDir()
	if err := os.WriteFile(filepath.Join(path, "node"), fakeNode("20.11.1"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", path+string(os.PathListSeparator)+"/usr/bin:/bin")
	for _, tc := range []struct {
		pm   manager
		want string
		logs []string
	}{
		{manager{name: "pnpm", want: "11.x"}, "24.11.0", []string{`pnpm 11.0.0 needs node ">=22.13" (its engines.node), which this machine's node does not meet`, "-----> Installing node 24.11.0"}},
		{manager{name: "pnpm", want: "12.0.0"}, "25.2.0", []string{`pnpm 12.0.0 needs node ">=25"`, "-----> Installing node 25.2.0"}},
		{manager{name: "yarn", want: "1.x"}, "20.11.1", []string{"Using this machine's node v20.11.1"}},
	} {
		t.Run(tc.pm.name+" "+tc.pm.want, func(t *testing.T) {
			var log strings.Builder
			b := &build{
				r:    bpkit.Request{BuildDir: t.TempDir(), CacheDir: t.TempDir(), Log: &log},
				pm:   tc.pm,
				reg:  newRegistry(reg.URL),
				dist: newNodeDist("http://127.0.0.1:1/"),
			}
			if err := b.chooseNode(context.Background(), ""); err != nil {
				t.Fatalf("%v; log:\n%s", err, log.String())
			}
			if b.node.String() != tc.want {
				t.Errorf("node %s, want %s", b.node, tc.want)
			}
			if got := runNode(t, b.r.BuildDir); got != "v"+tc.want {
				t.Errorf("the slug's node says %q, want v%s", got, tc.want)
			}
			for _, w := range tc.logs {
				if !strings.Contains(log.String(), w) {
					t.Errorf("the log lacks %q:\n%s", w, log.String())
				}
			}
		})
	}
}
