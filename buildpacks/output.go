package buildpacks

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// errOutputFlood stops a build whose output passed the hard cap.
var errOutputFlood = errors.New("the buildpack wrote too much output")

// boundedWriter passes build output to the user up to soft bytes, notes
// that the rest is dropped, and fails writes past hard bytes so the build
// stops.
type boundedWriter struct {
	mu         sync.Mutex
	w          io.Writer
	soft, hard int64
	n          int64
	noted      bool
	over       bool
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += int64(len(p))
	if b.n > b.hard {
		b.over = true
		return 0, errOutputFlood
	}
	if b.n > b.soft {
		if !b.noted {
			b.noted = true
			fmt.Fprintf(b.w, "\n-----> Build output passed %s: the rest is not shown\n", humanSize(b.soft))
		}
		return len(p), nil
	}
	return b.w.Write(p)
}

func (b *boundedWriter) flooded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.over
}
