package buildpacktest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pierhq/pier/buildpacks"
)

// BuildFails builds dir with bp and the config vars env, as a bad-input
// test does: it fails the test if the build succeeds, and returns the log
// and the build's error.
func BuildFails(t *testing.T, bp buildpacks.Buildpack, dir string, env map[string]string) (string, error) {
	t.Helper()
	envDir := t.TempDir()
	for k, v := range env {
		if err := os.WriteFile(filepath.Join(envDir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cache := t.TempDir()
	ShareGoBuildCache(t, cache)
	ShareNodeDist(t, cache)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log SyncBuffer
	_, err := bp.Build(ctx, buildpacks.BuildRequest{App: "fixture", BuildDir: dir, CacheDir: cache, EnvDir: envDir}, &log)
	if err == nil {
		t.Fatalf("the build succeeded:\n%s", log.String())
	}
	return log.String(), err
}

// Alive reports whether pid runs; a zombie waiting for its reaper is dead.
func Alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}
