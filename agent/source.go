package agent

import (
	"errors"
	"fmt"
	"io"

	"github.com/pierhq/pier/internal/untar"
)

// maxSourceBytes bounds a pushed tree once unpacked.
const maxSourceBytes = 2 << 30

// sourceTar is what a pushed tree may hold: what git archive writes of a
// sound commit. Modes are git's (0644, 0755 when executable); symlinks stay
// inside the tree; anything else is refused, not skipped.
var sourceTar = untar.Options{What: "the pushed tree", MaxBytes: maxSourceBytes}

// extractTar unpacks a tar stream (from git archive) into dir, an empty
// directory. Nothing lands outside dir, and a tree that tries is refused
// with the entry it holds.
func extractTar(r io.Reader, dir string) error {
	err := untar.Extract(r, dir, sourceTar)
	if errors.Is(err, untar.ErrRefused) {
		return fmt.Errorf("%w.\nFix the commit and push again", err)
	}
	return err
}
