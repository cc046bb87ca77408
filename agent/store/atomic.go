package store

import (
	"fmt"
	"io"
	"os"

	"github.com/google/renameio/v2"
)

// writeFileAtomic writes a file that survives a crash whole or not at all:
// a temp file beside it, fsync, rename.
func writeFileAtomic(path string, perm os.FileMode, write func(w io.Writer) error) error {
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(perm))
	if err != nil {
		return fmt.Errorf("creating a temp file for %s: %w", path, err)
	}
	defer f.Cleanup()
	if err := write(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return nil
}
