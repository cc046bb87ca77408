package backuptarget

import (
	"context"
	"fmt"
	"io"
	"os"
)

// uploadPending is a backup bound for a bucket: written to a local file
// first, and uploaded whole by Commit, so that a bucket shows it only
// once it is complete and verified.
type uploadPending struct {
	f    *os.File
	name string
	// upload sends size bytes of r as the backup called name.
	upload func(ctx context.Context, name string, r io.Reader, size int64) error
}

// newUploadPending starts a local file in dir for the backup called name.
func newUploadPending(dir, name string, upload func(context.Context, string, io.Reader, int64) error) (*uploadPending, error) {
	f, err := os.CreateTemp(dir, ".upload-"+name+"-*")
	if err != nil {
		return nil, fmt.Errorf("creating a local file to upload from: %w", err)
	}
	return &uploadPending{f: f, name: name, upload: upload}, nil
}

func (p *uploadPending) Write(b []byte) (int, error) { return p.f.Write(b) }
func (p *uploadPending) Path() string                { return p.f.Name() }

func (p *uploadPending) Cleanup() {
	p.f.Close()
	os.Remove(p.f.Name())
}

// Commit uploads the file, and removes it whatever happens.
func (p *uploadPending) Commit(ctx context.Context) error {
	defer p.Cleanup()
	fi, err := p.f.Stat()
	if err != nil {
		return err
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return p.upload(ctx, p.name, p.f, fi.Size())
}
