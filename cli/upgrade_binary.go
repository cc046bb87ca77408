package cli

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
)

// pierBinary is a file checked to be a pier binary this machine can run.
type pierBinary struct {
	path    string
	version string
}

// versionCheckTimeout bounds `BINARY version` when a binary is checked.
const versionCheckTimeout = 10 * time.Second

// checkBinary makes sure path is a pier binary for the machine that runs
// like: a regular executable file, an ELF binary for the same architecture,
// whose `version` says it is pier. It returns its version.
func checkBinary(ctx context.Context, path, like string) (pierBinary, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return pierBinary{}, fmt.Errorf("the new binary: %w", err)
	case !fi.Mode().IsRegular():
		return pierBinary{}, fmt.Errorf("%s is not a regular file: give the path of a pier binary", path)
	case fi.Mode().Perm()&0o111 == 0:
		return pierBinary{}, fmt.Errorf("%s is not executable: chmod +x it, if it is a pier binary", path)
	}
	got, err := elfMachine(path)
	if err != nil {
		return pierBinary{}, fmt.Errorf("%s is not a Linux binary (%v): give the path of a pier binary", path, err)
	}
	if want, err := elfMachine(like); err == nil && got != want {
		return pierBinary{}, fmt.Errorf("%s is built for %s, and this machine runs %s: build pier for %s (GOARCH)", path, got, want, want)
	}
	v, err := binaryVersion(ctx, path)
	if err != nil {
		return pierBinary{}, fmt.Errorf("%s is not a pier binary: %w", path, err)
	}
	return pierBinary{path: path, version: v}, nil
}

// elfMachine is the architecture an ELF file is built for.
func elfMachine(path string) (elf.Machine, error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Machine, nil
}

// binaryVersion runs `BINARY version --json` away from any agent and
// login, and returns the version it reports.
func binaryVersion(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, versionCheckTimeout)
	defer cancel()
	home, err := os.MkdirTemp("", "pier-version-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(home)
	cmd := exec.CommandContext(ctx, path, "version", "--json")
	cmd.Env = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "PIER_API=http://127.0.0.1:1", "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("`%s version` failed: %w", filepath.Base(path), err)
	}
	var v versionInfo
	if err := json.Unmarshal(out, &v); err != nil || v.Client == "" {
		return "", fmt.Errorf("`%s version --json` did not print pier's version", filepath.Base(path))
	}
	return v.Client, nil
}

// installBinary copies src to dst and renames it into place, so that dst
// is the old file or the new one whole, never a part.
func installBinary(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := renameio.NewPendingFile(dst, renameio.WithPermissions(0o755))
	if err != nil {
		return fmt.Errorf("writing beside %s: %w", dst, err)
	}
	defer f.Cleanup()
	if _, err := io.Copy(f, in); err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("replacing %s: %w", dst, err)
	}
	return nil
}

// errNoPrevious says a binary already in place has no copy to go back to.
var errNoPrevious = errors.New("no previous binary")
