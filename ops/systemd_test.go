package ops

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// renderUnit writes the unit for a binary, env file and data dir under a
// temp dir, as `pier install --root` lays them out.
func renderUnit(t *testing.T) (unit string, u Unit) {
	t.Helper()
	root := t.TempDir()
	u = Unit{Binary: filepath.Join(root, "bin/pier"), EnvFile: filepath.Join(root, "etc/pier/pier.env"), DataDir: filepath.Join(root, "lib/pier")}
	if err := os.MkdirAll(filepath.Dir(u.Binary), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(u.Binary, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	text, err := u.Render()
	if err != nil {
		t.Fatal(err)
	}
	unit = filepath.Join(root, "pier.service")
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit, u
}

// TestUnitPassesSystemdAnalyzeVerify: systemd reads the unit without an
// error or a warning (an unknown key is only a warning to it, so any
// output fails the test).
func TestUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	bin := tool(t, "systemd-analyze", "systemd") // needs no running systemd
	unit, _ := renderUnit(t)
	out, err := exec.Command(bin, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check is real: a unit with an unknown key does not pass.
	b, _ := os.ReadFile(unit)
	bad := strings.Replace(string(b), "KillMode=process", "KillMode=process\nKillMood=process", 1)
	if err := os.WriteFile(unit, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(bin, "verify", unit).CombinedOutput(); !strings.Contains(string(out), "KillMood") {
		t.Errorf("systemd-analyze verify said nothing of an unknown key: %q", out)
	}
}

// TestUnitKeepsTheAgentsPromises: the settings the agent relies on are in
// the unit, with the paths it was given.
func TestUnitKeepsTheAgentsPromises(t *testing.T) {
	_, u := renderUnit(t)
	text, _ := u.Render()
	for _, want := range []string{
		"ExecStart=" + u.Binary + " agent\n",
		"EnvironmentFile=-" + u.EnvFile + "\n",
		"Environment=PIER_DATA_DIR=" + u.DataDir + "\n",
		"ReadWritePaths=" + u.DataDir + "\n",
		"PIDFile=" + u.DataDir + "/pier.pid\n", // the agent's own pid file, which a handover rewrites
		"ExecReload=/bin/kill -HUP $MAINPID\n",
		"KillMode=process\n", // apps outlive a restart and are re-adopted
		"Restart=on-failure\n",
		"NoNewPrivileges=yes\n",
		"ProtectSystem=strict\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the unit has no %q", strings.TrimSpace(want))
		}
	}
	var caps string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			caps = " " + v + " "
		}
	}
	// Those package sandbox needs to isolate apps, and the low ports.
	for _, c := range []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_NET_BIND_SERVICE"} {
		if !strings.Contains(caps, " "+c+" ") {
			t.Errorf("CapabilityBoundingSet lacks %s: %q", c, caps)
		}
	}
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_MODULE"} {
		if strings.Contains(caps, c) {
			t.Errorf("CapabilityBoundingSet keeps %s", c)
		}
	}
}

// TestUnitRefusesPathsSystemdWouldSplit: a path with a space or a $ would
// change the meaning of the unit; Render refuses it.
func TestUnitRefusesPathsSystemdWouldSplit(t *testing.T) {
	for _, u := range []Unit{
		{Binary: "/usr/local/bin/my pier", EnvFile: "/etc/pier/pier.env", DataDir: "/var/lib/pier"},
		{Binary: "/usr/local/bin/pier", EnvFile: "etc/pier.env", DataDir: "/var/lib/pier"},
		{Binary: "/usr/local/bin/pier", EnvFile: "/etc/pier/pier.env", DataDir: "/var/lib/$pier"},
	} {
		if _, err := u.Render(); err == nil {
			t.Errorf("Render(%+v) took it", u)
		}
	}
}

// TestUnitExposureStaysLow: systemd's own assessment of the unit's
// sandboxing (systemd-analyze security, offline) rates it 4.0 or better,
// so a change that loosens it shows here.
func TestUnitExposureStaysLow(t *testing.T) {
	bin := tool(t, "systemd-analyze", "systemd")
	unit, _ := renderUnit(t)
	out, err := exec.Command(bin, "security", "--offline=true", unit).CombinedOutput()
	if err != nil && strings.Contains(string(out), "offline") {
		t.Skipf("this systemd-analyze has no --offline: %s", out)
	}
	_, level, ok := strings.Cut(string(out), "Overall exposure level for pier.service: ")
	var exposure float64
	if ok {
		_, err = fmt.Sscanf(level, "%g", &exposure)
	}
	if !ok || err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	t.Logf("exposure %.1f", exposure)
	if exposure > 4.0 {
		t.Errorf("the unit's exposure is %.1f, over 4.0:\n%s", exposure, out)
	}
}
