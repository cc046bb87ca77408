package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/google/renameio/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/ops"
)

// installCommand is `pier install`: this binary as a systemd service.
func installCommand() *ucli.Command {
	str := func(name, value, usage string) *ucli.StringFlag {
		return &ucli.StringFlag{Name: name, Value: value, Usage: usage}
	}
	return &ucli.Command{
		Name:  "install",
		Usage: "install this binary as the pier agent's systemd service (as root)",
		Description: "Copies this binary to --bin-dir/pier, creates the data dir (mode 0700) and\n" +
			"--env-file with the agent's flags as commented PIER_* variables (kept when it\n" +
			"exists), writes the hardened unit pier.service to --unit-dir, and enables and\n" +
			"starts it (unless --no-start or --root). Running it again updates the binary\n" +
			"and the unit and keeps the env file and the data.",
		Flags: []ucli.Flag{
			str("root", "/", "install into this directory as if it were / (for packaging and tests: no systemctl, no root needed)"),
			str("bin-dir", "/usr/local/bin", "where the binary goes"),
			str("data-dir", "/var/lib/pier", "the agent's data dir"),
			str("env-file", "/etc/pier/pier.env", "the agent's settings"),
			str("unit-dir", "/etc/systemd/system", "where pier.service goes"),
			&ucli.BoolFlag{Name: "no-start", Usage: "do not enable and start the service"},
		},
		Action: runInstall,
	}
}

// installPlan is what `pier install` lays out, as paths on the target and
// the root they are written under.
type installPlan struct {
	root string
	unit ops.Unit
	file string // the unit's path
}

// under is p inside the install root.
func (p installPlan) under(path string) string { return filepath.Join(p.root, path) }

func runInstall(c *ucli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("pier install takes no arguments, got %q (see `pier install --help`)", c.Args().First())
	}
	p := installPlan{
		root: c.String("root"),
		unit: ops.Unit{Binary: filepath.Join(c.String("bin-dir"), "pier"), EnvFile: c.String("env-file"), DataDir: c.String("data-dir")},
		file: filepath.Join(c.String("unit-dir"), "pier.service"),
	}
	unit, err := p.unit.Render()
	if err != nil {
		return fmt.Errorf("%w (--bin-dir, --env-file, --data-dir)", err)
	}
	system := filepath.Clean(p.root) == "/"
	if system && os.Geteuid() != 0 {
		return fmt.Errorf("pier install writes to /usr/local/bin, /etc and /var/lib: run it as root (sudo pier install), or with --root DIR to lay the files out elsewhere")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary: %w", err)
	}
	steps := []struct {
		what string
		do   func() (string, error)
	}{
		{p.unit.DataDir, func() (string, error) { return p.makeDataDir() }},
		{p.unit.Binary, func() (string, error) { return p.copyBinary(self) }},
		{p.unit.EnvFile, func() (string, error) { return p.writeEnvFile() }},
		{p.file, func() (string, error) { return p.writeFile(p.file, []byte(unit), 0o644) }},
	}
	for _, s := range steps {
		done, err := s.do()
		if err != nil {
			return fmt.Errorf("installing %s: %w", s.what, err)
		}
		fmt.Fprintf(c.App.Writer, "%-8s %s\n", done, s.what)
	}
	if !system || c.Bool("no-start") {
		fmt.Fprintf(c.App.ErrWriter, "Start it on the machine with: systemctl daemon-reload && systemctl enable --now pier\n")
		return nil
	}
	return startService(c)
}

// copyBinary puts the running binary at the service's path, replacing the
// file in one rename (an agent running it goes on with the old one).
func (p installPlan) copyBinary(self string) (string, error) {
	dst := p.under(p.unit.Binary)
	if same, _ := sameFile(self, dst); same {
		return "kept", nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	return "wrote", installBinary(self, dst)
}

// makeDataDir creates the data dir, 0700; one that exists is the agent's
// and keeps its mode (the agent opens it to apps' users when it isolates
// them).
func (p installPlan) makeDataDir() (string, error) {
	dir := p.under(p.unit.DataDir)
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("%s exists and is not a directory", dir)
		}
		return "kept", nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	return "created", os.Chmod(dir, 0o700)
}

// writeEnvFile writes the env file unless there is one: it is the
// operator's, and may hold PIER_ADMIN_TOKEN or PIER_SECRET_KEY (so 0600).
func (p installPlan) writeEnvFile() (string, error) {
	path := p.under(p.unit.EnvFile)
	if _, err := os.Lstat(path); err == nil {
		return "kept", nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return p.writeFile(p.unit.EnvFile, []byte(agentEnvFile(p.unit.DataDir)), 0o600)
}

// writeFile writes path under the root atomically, saying whether it
// changed.
func (p installPlan) writeFile(path string, data []byte, mode os.FileMode) (string, error) {
	dst := p.under(path)
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
		return "kept", os.Chmod(dst, mode)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	return "wrote", renameio.WriteFile(dst, data, mode)
}

// sameFile reports whether a and b are one file.
func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// startService reloads systemd and enables and starts pier.service, or
// says what to do where systemd does not run.
func startService(c *ucli.Context) error {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		fmt.Fprintf(c.App.ErrWriter, "systemd is not running here: start the agent with `systemctl enable --now pier` on a machine that boots with systemd\n")
		return nil
	}
	for _, args := range [][]string{{"daemon-reload"}, {"enable", "--now", "pier.service"}} {
		cmd := exec.CommandContext(c.Context, "systemctl", args...)
		cmd.Stdout, cmd.Stderr = c.App.ErrWriter, c.App.ErrWriter
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("systemctl %v: %w", args, err)
		}
	}
	fmt.Fprintf(c.App.ErrWriter, "pier.service is enabled and started: systemctl status pier, journalctl -u pier\n")
	return nil
}
