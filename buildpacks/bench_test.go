package buildpacks_test

import (
	"context"
	"io"
	"os/exec"
	"testing"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

// BenchmarkBuild measures whole builds (detection, plugin processes, slug)
// of each fixture: cold with an empty build cache, warm with the cache of a
// previous build. scripts/bench-build reports their medians.
func BenchmarkBuild(b *testing.B) {
	fixtures := []struct{ name, dir, needs string }{
		{"go", "testdata/go-app", "go"},
		{"nodejs", "testdata/node-app", "npm"},
		// 50 dependencies from the npm registry: cold, npm downloads each.
		{"nodejs-50deps", "testdata/node-50deps-app", "npm"},
		{"static", "testdata/static-app", ""},
		{"procfile", "testdata/procfile-app", ""},
	}
	for _, f := range fixtures {
		if f.needs != "" {
			if _, err := exec.LookPath(f.needs); err != nil {
				continue
			}
		}
		b.Run(f.name+"/cold", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchBuild(b, f.dir, b.TempDir())
			}
		})
		b.Run(f.name+"/warm", func(b *testing.B) {
			cache := b.TempDir()
			benchBuild(b, f.dir, cache)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				benchBuild(b, f.dir, cache)
			}
		})
	}
}

func benchBuild(b *testing.B, fixture, cache string) {
	b.StopTimer()
	src := buildpacktest.CopyDir(b, fixture)
	bl := buildpacktest.Builder(b)
	bl.CacheDir, bl.Logf = cache, nil
	b.StartTimer()
	if _, err := bl.Build(context.Background(), buildpacks.Options{App: "bench", SourceDir: src}, io.Discard); err != nil {
		b.Fatal(err)
	}
}
