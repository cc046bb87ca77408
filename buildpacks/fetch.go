package buildpacks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pierhq/pier/sandbox"
)

// fetchTimeout bounds fetching a buildpack from a URL.
const fetchTimeout = 2 * time.Minute

// gitSchemes are the URL schemes a buildpack's git URL may use. Local
// paths and file:// URLs are refused: they would let an app clone another
// app's repository on this host.
var gitSchemes = []string{"https://", "http://", "git://", "ssh://"}

// isGitURL reports whether ref is a git URL of a remote host: one of
// gitSchemes, or ssh's scp-like git@HOST:PATH.
func isGitURL(ref string) bool {
	for _, p := range gitSchemes {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	host, _, ok := strings.Cut(strings.TrimPrefix(ref, "git@"), ":")
	return strings.HasPrefix(ref, "git@") && ok && host != "" && !strings.Contains(host, "/")
}

// fetchDir is where a buildpack fetched from ref goes inside work.
func fetchDir(ref, work string) string {
	sum := sha256.Sum256([]byte(ref))
	return filepath.Join(work, "buildpack-"+hex.EncodeToString(sum[:6]))
}

// cloneBuildpack fetches a buildpack with git, as the build's user, without
// prompting for credentials, and with git itself allowed only remote
// protocols.
func cloneBuildpack(ctx context.Context, ref, work string, user sandbox.Identity) (string, error) {
	url, branch, _ := strings.Cut(ref, "#")
	dir := fetchDir(ref, work)
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	args := []string{"clone", "--quiet", "--depth", "1"}
	if branch != "" {
		args = append(args, "--branch", branch)
	}
	args = append(args, "--", url, dir)
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(pluginEnv(work, nil), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "GIT_ALLOW_PROTOCOL=https:http:git:ssh")
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	user.Apply(cmd.SysProcAttr) // the build's user clones, into its own directory
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil {
			msg = "timed out after " + fetchTimeout.String()
		}
		return "", fmt.Errorf("fetching buildpack %s: git clone failed: %s: check the URL in BUILDPACK or app.json", url, orError(msg, err))
	}
	return dir, nil
}

func orError(msg string, err error) string {
	if msg == "" {
		return err.Error()
	}
	if i := strings.LastIndex(msg, "\n"); i >= 0 {
		return msg[i+1:]
	}
	return msg
}
