package local

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pierhq/pier/sandbox"
)

// An app with a user of its own (Deployment.User) gets, under Dir:
//
//	Dir, Dir/apps            0711 the scheduler's: others may pass, not look
//	apps/APP/                0750 root:APP-group: only the app may enter
//	apps/APP/SLOT-vN/        the slug, the agent's files, read-only to the app
//	apps/APP/home/           0700 the app's: HOME and TMPDIR, its only
//	                         writable place (shared by its slots, not kept
//	                         when the app is destroyed)
//	apps/APP/raw/, app.log   0700/0600 the agent's: processes write their
//	                         output to files the scheduler opened for them
//
// So an app reads its own slug, writes its home, and can neither read the
// scheduler's state (it holds every app's config) nor another app's files.

// prepareApp makes apps/APP ready for processes of user and returns the
// app's home.
func (s *Scheduler) prepareApp(app string, user sandbox.Identity) (string, error) {
	appDir := filepath.Join(s.dir, "apps", app)
	if err := os.MkdirAll(appDir, 0o700); err != nil {
		return "", err
	}
	home := filepath.Join(appDir, "home")
	if !user.Isolated() {
		return home, nil
	}
	for _, d := range []string{s.dir, filepath.Dir(appDir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			return "", err
		}
	}
	if err := os.Lchown(appDir, os.Geteuid(), user.GID); err != nil {
		return "", fmt.Errorf("giving %s to the app's group: %w", appDir, err)
	}
	if err := os.Chmod(appDir, 0o750); err != nil {
		return "", err
	}
	for _, d := range []string{home, filepath.Join(home, "tmp")} {
		if err := os.Mkdir(d, 0o700); err != nil && !os.IsExist(err) {
			return "", err
		}
		if err := user.Chown(d); err != nil {
			return "", err
		}
	}
	return home, nil
}

// readOnly takes the write bits of group and others off every file and
// directory under dir, so that an app's user, which reads its slug through
// its group, cannot change it.
func readOnly(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if m := fi.Mode().Perm(); m&0o022 != 0 {
			return os.Chmod(p, m&^0o022)
		}
		return nil
	})
}
