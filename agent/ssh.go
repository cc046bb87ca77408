package agent

import (
	"net"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/pierhq/pier/agent/gitserver"
)

// SSHOff is the Config.SSHAddr that turns git over SSH off.
const SSHOff = "off"

// newSSHServer serves git over SSH for the keys of `pier keys add`, with the
// repositories and push hook of the HTTP git server.
func (a *Agent) newSSHServer() *gitserver.SSHServer {
	if a.cfg.SSHAddr == SSHOff {
		return nil
	}
	return &gitserver.SSHServer{
		Git:         a.git,
		HostKeyPath: filepath.Join(a.dirs.root, "ssh_host_ed25519_key"),
		Authorize:   a.sshAuth,
		Permit:      a.sshPermit,
		Ran:         a.sshRan,
		Logf:        a.logf,
	}
}

// sshAuth allows the keys added with `pier keys add`; the key's name is who
// pushes.
func (a *Agent) sshAuth(key ssh.PublicKey) (string, bool) {
	k, err := a.store.KeyByFingerprint(ssh.FingerprintSHA256(key))
	if err != nil {
		return "", false
	}
	return k.Name, true
}

// closeSSHKey ends the open connections of a key just removed, so that a
// connection kept open (ssh's ControlMaster) cannot push on without it.
func (a *Agent) closeSSHKey(fingerprint string) {
	if a.sshd != nil {
		a.sshd.CloseKey(fingerprint)
	}
}

// sshURL is the SSH git remote of app, or "" when SSH is off. The host is
// the control host pier.<domain>, or the local address on localhost.
func (a *Agent) sshURL(app string) string {
	if a.cfg.SSHAddr == SSHOff {
		return ""
	}
	host, port, err := net.SplitHostPort(a.cfg.SSHAddr)
	if err != nil {
		return ""
	}
	switch ip := net.ParseIP(host); {
	case a.cfg.Domain != "localhost":
		host = a.cfg.controlHost()
	case ip == nil || ip.IsUnspecified():
		host = "127.0.0.1"
	}
	return "ssh://git@" + net.JoinHostPort(host, port) + "/" + app + ".git"
}
