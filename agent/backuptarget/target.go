// Package backuptarget is where backups live: a directory, an
// S3-compatible bucket or a Cloud Storage bucket. Both show a backup whole or not at all: a backup is
// written aside (a hidden temp file, or a local file not yet uploaded) and
// appears under its name only once it is complete and verified, so a
// failure midway (a full disk, a lost connection) leaves nothing that List
// shows as a backup, and never touches the backups already there.
package backuptarget

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
)

// Prefix starts the name of every backup pier writes; List and Prune see
// only names of its own shape (Prefix, a time, Ext or Ext+EncryptedExt).
const (
	Prefix       = "pier-backup-"
	Ext          = ".tar.gz"
	EncryptedExt = ".age"
	timeLayout   = "20060102T150405.000Z"
)

// Name is the file name of a backup made at t; encrypted ones end in .age.
func Name(t time.Time, encrypted bool) string {
	n := Prefix + t.UTC().Format(timeLayout) + Ext
	if encrypted {
		n += EncryptedExt
	}
	return n
}

// ParseName reports whether name is a backup's name, and when it was made.
// Names of the earlier format, to the second, count too.
func ParseName(name string) (t time.Time, encrypted, ok bool) {
	rest, found := strings.CutPrefix(name, Prefix)
	if !found {
		return time.Time{}, false, false
	}
	if s, found := strings.CutSuffix(rest, EncryptedExt); found {
		rest, encrypted = s, true
	}
	stamp, found := strings.CutSuffix(rest, Ext)
	if !found {
		return time.Time{}, false, false
	}
	for _, layout := range []string{timeLayout, "20060102T150405Z"} {
		if t, err := time.Parse(layout, stamp); err == nil {
			return t, encrypted, true
		}
	}
	return time.Time{}, false, false
}

// Backup is one complete backup in a target.
type Backup struct {
	Name      string    `json:"name"`
	Location  string    `json:"location"` // a path, s3://bucket/key or gs://bucket/key
	Size      int64     `json:"size"`
	Time      time.Time `json:"time"` // when it was made, from its name
	Encrypted bool      `json:"encrypted"`
}

// Target is a place that holds backups.
type Target interface {
	// String is the target as the user wrote it, without credentials.
	String() string
	// Create starts a backup called name. Nothing shows under name until
	// Commit returns.
	Create(ctx context.Context, name string) (Pending, error)
	// List returns the complete backups, newest first.
	List(ctx context.Context) ([]Backup, error)
	// Open reads the backup called name.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Delete removes the backup called name.
	Delete(ctx context.Context, name string) error
}

// Pending is a backup being written.
type Pending interface {
	io.Writer
	// Path is a local file with what was written so far, to verify it
	// before Commit.
	Path() string
	// Commit makes the backup appear under its name, whole.
	Commit(ctx context.Context) error
	// Cleanup drops what was written, unless Commit succeeded.
	Cleanup()
}

// Options tune how a target is reached.
type Options struct {
	// TempDir holds uploads before they go to a bucket ("" is the
	// system's temp dir).
	TempDir string
	// Getenv reads the environment (the S3 endpoint and credentials);
	// nil is os.Getenv.
	Getenv func(string) string
	// Timeout bounds each call to a remote target (0: DefaultTimeout).
	Timeout time.Duration
}

// DefaultTimeout bounds each call to a bucket but an upload or a download,
// which the caller's context bounds.
const DefaultTimeout = 30 * time.Second

// Open returns the target at loc: a directory, s3://bucket[/prefix] or
// gs://bucket[/prefix]. A bucket is checked (the endpoint answers, takes
// the credentials, has the bucket) before Open returns.
func Open(ctx context.Context, loc string, o Options) (Target, error) {
	switch scheme(loc) {
	case "":
		return openDir(loc)
	case "s3":
		return openS3(ctx, loc, o)
	case "gs":
		return openGCS(ctx, loc, o)
	}
	return nil, fmt.Errorf("%s: backups go to a directory, s3://bucket/prefix or gs://bucket/prefix, not to %s://", redact(loc), scheme(loc))
}

// scheme is the URL scheme of a location, "" for a path.
func scheme(loc string) string {
	i := strings.Index(loc, "://")
	if i < 0 {
		return ""
	}
	if u, err := url.Parse(loc); err == nil && u.Scheme != "" {
		return u.Scheme
	}
	return loc[:i]
}

// Split splits the location of one backup (a path, or
// s3://bucket/prefix/name, or gs://...) into its target and its name.
func Split(loc string) (target, name string, err error) {
	if s := scheme(loc); s == "s3" || s == "gs" {
		u, err := url.Parse(loc)
		if err != nil {
			return "", "", fmt.Errorf("%s is not an %s:// URL: %w", redact(loc), s, err)
		}
		i := strings.LastIndex(u.Path, "/")
		if i < 0 || i == len(u.Path)-1 {
			return "", "", fmt.Errorf("%s names no backup: give %s://bucket/prefix/%s...", redact(loc), s, Prefix)
		}
		name = u.Path[i+1:]
		u.Path = u.Path[:i]
		return u.String(), name, nil
	}
	dir, file := splitPath(loc)
	return dir, file, nil
}

// Prune deletes the oldest of pier's backups in t beyond keep (keep > 0).
// Only names of pier's own shape are counted or deleted.
func Prune(ctx context.Context, t Target, keep int) (deleted []string, err error) {
	if keep <= 0 {
		return nil, fmt.Errorf("keeping %d backups: keep at least one", keep)
	}
	list, err := t.List(ctx)
	if err != nil {
		return nil, err
	}
	sortNewestFirst(list)
	for _, b := range list[min(keep, len(list)):] {
		if err := t.Delete(ctx, b.Name); err != nil {
			return deleted, fmt.Errorf("deleting the old backup %s: %w", b.Location, err)
		}
		deleted = append(deleted, b.Name)
	}
	return deleted, nil
}

// sortNewestFirst orders backups by the time in their names.
func sortNewestFirst(list []Backup) {
	sort.Slice(list, func(i, j int) bool { return list[i].Time.After(list[j].Time) })
}

// redact drops user info from a URL-like location.
func redact(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || u.User == nil {
		return loc
	}
	return u.Redacted()
}

// Fetch makes the backup at loc (a path, or s3:// or gs://bucket/prefix/name)
// a local file: a path is itself; an object is downloaded into a 0600 temp
// file in o.TempDir, which done removes.
func Fetch(ctx context.Context, loc string, o Options) (file string, done func(), err error) {
	if scheme(loc) == "" {
		return loc, func() {}, nil
	}
	tloc, name, err := Split(loc)
	if err != nil {
		return "", nil, err
	}
	t, err := Open(ctx, tloc, o)
	if err != nil {
		return "", nil, err
	}
	r, err := t.Open(ctx, name)
	if err != nil {
		return "", nil, err
	}
	defer r.Close()
	f, err := os.CreateTemp(o.TempDir, ".download-"+name+"-*")
	if err != nil {
		return "", nil, fmt.Errorf("creating a local file to download into: %w", err)
	}
	done = func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(f, r); err != nil {
		done()
		return "", nil, fmt.Errorf("downloading %s: %w", loc, err)
	}
	if err := f.Close(); err != nil {
		done()
		return "", nil, fmt.Errorf("downloading %s: %w", loc, err)
	}
	return f.Name(), done, nil
}
